"""Fair split of handwritten notes among a store's staff.

Rule: each note goes to the staff member who served that customer most often, unless that person
already holds ``cap = ⌈notes / staff⌉ + 1`` notes; otherwise to whoever holds the fewest. Nobody ever
exceeds the cap: when a note falls back to the least-loaded person, that person holds fewer than
⌈notes / staff⌉ (if everyone held that many, more notes than exist would already be placed).

``split_plan`` is pure (no ORM) and unit-tested; ``writers_for_stores`` reads who can write.
"""

import math
from collections.abc import Iterable, Mapping

from customers.models import Membership, Role


def split_cap(notes: int, staff: int) -> int:
    """The most notes one person may get: ⌈notes / staff⌉ + 1."""
    return math.ceil(notes / staff) + 1 if staff else 0


def split_plan(
    *,
    note_ids: Iterable[int],
    staff_ids: list[int],
    preferences: Mapping[int, Mapping[int, int]],
) -> dict[int, int]:
    """Assign each note id to a staff id. ``preferences[note][staff]`` = times that person served the customer.

    Notes with the strongest preference are placed first, so a regular served 40 times by Anna goes to
    Anna before a customer she served twice. Ties break on ids: the same input gives the same plan.
    """
    notes = list(note_ids)
    if not staff_ids or not notes:
        return {}
    cap = split_cap(len(notes), len(staff_ids))
    load = dict.fromkeys(staff_ids, 0)
    order = {s: i for i, s in enumerate(staff_ids)}

    def strength(note_id: int) -> tuple[int, int]:
        prefs = {s: n for s, n in preferences.get(note_id, {}).items() if s in load}
        return (-(max(prefs.values()) if prefs else 0), note_id)

    plan: dict[int, int] = {}
    for note_id in sorted(notes, key=strength):
        prefs = sorted(
            ((n, s) for s, n in preferences.get(note_id, {}).items() if s in load and n > 0),
            key=lambda p: (-p[0], order[p[1]]),
        )
        chosen = next((s for _, s in prefs if load[s] < cap), None)
        if chosen is None:
            chosen = min(staff_ids, key=lambda s: (load[s], order[s]))
        load[chosen] += 1
        plan[note_id] = chosen
    return plan


def writers_for_stores(store_ids: Iterable[int]) -> dict[int, list[int]]:
    """Active staff and managers of each store who are not on leave: user ids by store id."""
    out: dict[int, list[int]] = {}
    rows = (
        Membership.objects.filter(
            store_id__in=list(store_ids),
            role__in=[Role.STAFF, Role.MANAGER],
            is_active=True,
            on_leave=False,
            user__is_active=True,
        )
        .order_by("store_id", "user_id")
        .values_list("store_id", "user_id")
    )
    for store_id, user_id in rows:
        out.setdefault(store_id, []).append(user_id)
    return out
