"""Signals the customer file sends for fan-out it must not know about.

``tickets_created`` is sent once per batch, **after commit**, by every path that
creates tickets (CSV import, POS API, staff form, demo data is exempt): loyalty
earns points from it, segmentation marks the customers as changed. Receivers get
``ticket_ids`` (a list of PurchaseTicket ids) and must be idempotent: a receiver
may see the same id twice after a retry.
"""

from django.dispatch import Signal

tickets_created = Signal()  # kwargs: ticket_ids: list[int]


def send_tickets_created(ticket_ids: list[int]) -> None:
    """Send ``tickets_created`` once the surrounding transaction commits."""
    from django.db import transaction

    if ticket_ids:
        ids = list(ticket_ids)
        transaction.on_commit(lambda: tickets_created.send(sender=None, ticket_ids=ids))


customer_created = Signal()  # kwargs: customer_id: int, source: str ("signup", "staff", "import", "api")


def send_customer_created(customer_id: int, source: str) -> None:
    """Send ``customer_created`` after commit (loyalty grants the welcome bonus from it)."""
    from django.db import transaction

    transaction.on_commit(lambda: customer_created.send(sender=None, customer_id=customer_id, source=source))


customers_merged = Signal()  # kwargs: survivor_id: int, duplicate_id: int
"""Sent by ``customers_merge`` **inside** its transaction, before the duplicate row is deleted:
receivers move their own rows (points, notes) to the survivor, and a receiver that
fails rolls the whole merge back. Receivers must not send email or queue tasks
directly (use ``transaction.on_commit``)."""

customer_erased = Signal()  # kwargs: customer_id: int
"""Sent by ``customer_erase`` **inside** its transaction: receivers remove or anonymise
the personal data they hold about ``customer_id`` (the customer row stays, emptied).
A receiver that fails rolls the erasure back, so nothing is half-erased."""


return_codes_lookup = Signal()  # kwargs: codes: frozenset[str] (normalised); see customers.attribution
"""Sent **synchronously** (inside the caller's transaction) when the till or the counter presents return
codes. A receiver answers ``{code: ReturnCode}`` for the codes it knows (outreach: its notes' return codes
and their gift vouchers' codes); unknown codes are left out. Receivers only read."""
