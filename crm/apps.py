from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    """Project wiring as an app: deploy checks, operations commands (backup), no models."""

    name = "crm"
    verbose_name = _("Regulars")

    def ready(self) -> None:
        from . import checks, logging  # noqa: F401  (registers checks and the Celery log context)
