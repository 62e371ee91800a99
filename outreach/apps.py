from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OutreachConfig(AppConfig):
    name = "outreach"
    verbose_name = _("Outreach")

    def ready(self) -> None:
        from customers.signals import tickets_created

        from . import receivers

        tickets_created.connect(receivers.queue_segment_customers, dispatch_uid="outreach.queue_segment_customers")
