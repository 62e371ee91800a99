from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OutreachConfig(AppConfig):
    name = "outreach"
    verbose_name = _("Outreach")

    def ready(self) -> None:
        from customers.signals import customer_erased, customers_merged, tickets_created

        from . import receivers

        tickets_created.connect(receivers.queue_segment_customers, dispatch_uid="outreach.queue_segment_customers")
        customers_merged.connect(receivers.move_segments_on_merge, dispatch_uid="outreach.move_segments_on_merge")
        customer_erased.connect(receivers.drop_segments_on_erasure, dispatch_uid="outreach.drop_segments_on_erasure")
        connect_dashboard()
        from . import notes_receivers

        notes_receivers.connect()  # notes follow merges, forget erased customers, show on the timeline


def connect_dashboard() -> None:
    """Dashboard aggregates: register the tasks and refresh on new tickets (issue 7)."""
    from customers.signals import tickets_created

    from . import live_versions, tasks_dashboard

    live_versions.connect()  # notes and complaints bump the version of the dashboard's live tiles

    tickets_created.connect(
        tasks_dashboard.dashboard_on_tickets_created, dispatch_uid="outreach.dashboard_on_tickets_created"
    )
    # Deleting a staff member or a store deletes their CustomerMonthStaff rows: the precomputed
    # "served most by" no longer matches them until the next refresh rebuilds it.
    from django.contrib.auth import get_user_model
    from django.db.models.signals import post_delete

    from customers.models import Store

    for model in (get_user_model(), Store):
        post_delete.connect(
            tasks_dashboard.served_most_forget,
            sender=model,
            dispatch_uid=f"outreach.served_most_forget.{model.__name__}",
        )
