from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LoyaltyConfig(AppConfig):
    name = "loyalty"
    verbose_name = _("Loyalty points")

    def ready(self) -> None:
        from customers.signals import customer_created, customers_merged, tickets_created

        from . import receivers

        tickets_created.connect(receivers.on_tickets_created, dispatch_uid="loyalty.earn")
        customer_created.connect(receivers.on_customer_created, dispatch_uid="loyalty.welcome")
        customers_merged.connect(receivers.on_customers_merged, dispatch_uid="loyalty.merge")
        from customers.timeline import register_timeline_source

        from .selectors import timeline_entries

        register_timeline_source(timeline_entries)
