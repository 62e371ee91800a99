"""Reactions to the customer file's signals (connected in OutreachConfig.ready)."""

from . import services


def queue_segment_customers(sender, ticket_ids: list[int], **kwargs) -> None:
    """New tickets: queue their customers for the next segment run of the chain and of their store."""
    services.segments_mark_pending(ticket_ids=ticket_ids)
