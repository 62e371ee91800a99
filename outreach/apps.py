from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OutreachConfig(AppConfig):
    name = "outreach"
    verbose_name = _("Outreach")

    def ready(self) -> None:
        connect_dashboard()


def connect_dashboard() -> None:
    """Dashboard aggregates: register the tasks and refresh on new tickets (issue 7)."""
    from customers.signals import tickets_created

    from . import tasks_dashboard

    tickets_created.connect(
        tasks_dashboard.dashboard_on_tickets_created, dispatch_uid="outreach.dashboard_on_tickets_created"
    )
