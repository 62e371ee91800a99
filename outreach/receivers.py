"""Reactions to the customer file's signals (connected in OutreachConfig.ready).

``services`` is imported when a signal fires, not when Django starts: it pulls in NumPy and SciPy for
the visit model (~60 MB), which a web process or an import that sends no signal never needs.
"""


def queue_segment_customers(sender, ticket_ids: list[int], **kwargs) -> None:
    """New tickets: fold them into the visit-day table; queue their customers for the next segment run
    of the chain and of their store."""
    from . import services

    services.segments_tickets_arrived(ticket_ids=ticket_ids)


def move_segments_on_merge(sender, survivor_id: int, duplicate_id: int, **kwargs) -> None:
    """Inside the merge's transaction: history to the survivor, survivor queued for the next runs."""
    from . import services

    services.segments_customers_merged(survivor_id=survivor_id, duplicate_id=duplicate_id)


def drop_segments_on_erasure(sender, customer_id: int, **kwargs) -> None:
    """Inside the erasure's transaction: the customer's segment state and history go."""
    from . import services

    services.segments_customer_erased(customer_id=customer_id)
