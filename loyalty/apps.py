from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LoyaltyConfig(AppConfig):
    name = "loyalty"
    verbose_name = _("Loyalty points")

    def ready(self) -> None:
        from customers.signals import customer_created, tickets_created

        from . import receivers

        tickets_created.connect(receivers.on_tickets_created, dispatch_uid="loyalty.earn")
        customer_created.connect(receivers.on_customer_created, dispatch_uid="loyalty.welcome")
        try:  # the customer file's timeline, where it exists (built in parallel)
            from customers.timeline import register_timeline_source
        except ImportError:
            return
        from .selectors import timeline_entries

        register_timeline_source(timeline_entries)
