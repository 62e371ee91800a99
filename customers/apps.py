from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = _("Customer file")

    def ready(self) -> None:
        from .timeline import register_builtin_sources

        register_builtin_sources()
        # Celery's autodiscovery imports only tasks.py; the import task lives in its own module.
        from . import importers_tasks  # noqa: F401
