"""Reactions to the customer file's signals (connected in ``LoyaltyConfig.ready``).

Both signals arrive after commit and may repeat; the services they call are idempotent.
These are interfaces: they read the clock and hand ids to services.
"""

import logging

from django.utils import timezone

log = logging.getLogger(__name__)

# Sources whose new customers get the welcome bonus. Imported customers come from
# another system with their history (and an opening balance), not as new joiners.
WELCOME_SOURCES = {"signup", "staff", "api"}


def on_tickets_created(sender, ticket_ids, **kwargs) -> None:
    """Earn (or reverse) points for the tickets, then move the customers' tiers."""
    from .services import points_earn_for_tickets, tiers_recompute

    entries = points_earn_for_tickets(ticket_ids=list(ticket_ids))
    account_ids = {e.account_id for e in entries}
    if account_ids:
        tiers_recompute(as_of=timezone.now(), account_ids=account_ids)
    log.info("loyalty tickets=%s entries=%s", len(ticket_ids), len(entries))


def on_customer_created(sender, customer_id, source="", **kwargs) -> None:
    """The welcome bonus, once per customer."""
    from .services import points_welcome_grant

    if source in WELCOME_SOURCES:
        points_welcome_grant(customer_id=customer_id, as_of=timezone.now())


def on_customers_merged(sender, survivor_id, duplicate_id, **kwargs) -> None:
    """Points and vouchers follow the customer into the surviving record (inside the merge's transaction)."""
    from .services import accounts_merge

    accounts_merge(survivor_id=survivor_id, duplicate_id=duplicate_id, as_of=timezone.now())
