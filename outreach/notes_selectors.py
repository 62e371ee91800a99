"""Scoped reads for the notes and campaign screens (404 outside the user's stores)."""

from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404

from customers.access import access_for, stores_for
from customers.models import Role

from .notes_models import Campaign, Note, NoteChannel, NoteStatus

OPEN_STATUSES = [NoteStatus.QUEUED, NoteStatus.WRITTEN]


def _notes() -> QuerySet[Note]:
    return Note.objects.select_related("customer", "campaign", "store", "voucher", "assigned_to")


def my_notes(*, user) -> QuerySet[Note]:
    """Handwritten notes assigned to ``user`` that are still to write or post, or were posted recently."""
    return (
        _notes()
        .filter(assigned_to=user, channel__in=[NoteChannel.POST, NoteChannel.BOTH])
        .exclude(status=NoteStatus.CANCELLED)
        .filter(Q(status__in=OPEN_STATUSES) | Q(status=NoteStatus.POSTED))
        .order_by("kind", "customer__last_name", "customer__first_name", "pk")
    )


def my_open_notes_count(*, user) -> int:
    """The number on the "My notes (N)" badge: notes still to write or post."""
    return Note.objects.filter(
        assigned_to=user, status__in=OPEN_STATUSES, channel__in=[NoteChannel.POST, NoteChannel.BOTH]
    ).count()


def tickable_notes(*, user, ids) -> QuerySet[Note]:
    """The notes among ``ids`` that ``user`` may tick: their own; a manager's or owner's whole stores."""
    qs = Note.objects.filter(pk__in=list(ids))
    if access_for(user).at_least(Role.MANAGER):
        return qs.filter(Q(assigned_to=user) | Q(store__in=stores_for(user)))
    return qs.filter(assigned_to=user, store__in=stores_for(user))


def store_notes(*, user, stores, status: str = "open") -> QuerySet[Note]:
    """Every note of ``stores`` (already limited to the user's) for the manager's store view."""
    qs = _notes().filter(store__in=stores).order_by("assigned_to_id", "kind", "customer__last_name", "pk")
    if status == "open":
        qs = qs.filter(status__in=OPEN_STATUSES)
    elif status and status != "all":
        qs = qs.filter(status=status)
    return qs


def note_get(*, user, pk: int) -> Note:
    """One note of a store the user works in, or 404."""
    return get_object_or_404(_notes(), pk=pk, store__in=stores_for(user))


def campaign_list(*, user) -> QuerySet[Campaign]:
    """Campaigns of the user's stores and (for everyone who manages) the chain's."""
    return (
        Campaign.objects.filter(Q(store__isnull=True) | Q(store__in=stores_for(user)))
        .select_related("store")
        .annotate(note_count=Count("notes", distinct=True))
        .order_by("-is_active", "name", "pk")
    )


def campaign_get(*, user, pk: int) -> Campaign:
    """A campaign of the user's stores or the chain's, or 404. Chain campaigns are editable by owners only."""
    return get_object_or_404(campaign_list(user=user), pk=pk)


def writers_choices(*, store_id: int) -> list[tuple[int, str]]:
    from django.contrib.auth import get_user_model

    from .split import writers_for_stores

    ids = writers_for_stores([store_id]).get(store_id, [])
    users = get_user_model().objects.filter(pk__in=ids).order_by("first_name", "username")
    return [(u.pk, u.get_full_name() or u.get_username()) for u in users]
