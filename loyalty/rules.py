"""Pure arithmetic of the points programme (no ORM): earning, reversal, FIFO lots, tiers, expiry dates."""

import calendar
import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal


def points_for_sale(
    *, total: Decimal, points_per_unit: Decimal, min_ticket: Decimal, cap: int, multiplier: Decimal = Decimal(1)
) -> int:
    """Points a sale of ``total`` earns: rounded down per ticket, times the tier multiplier, capped.

    Below the minimum ticket nothing is earned. The cap applies last, so a tier
    multiplier never lifts a ticket above it.
    """
    if total <= 0 or total < min_ticket:
        return 0
    raw = (total * points_per_unit * multiplier).to_integral_value(rounding=ROUND_DOWN)
    return max(0, min(int(raw), cap))


def reversal_for_return(
    *, earned: int, original_total: Decimal, returned_so_far: Decimal, already_reversed: int
) -> int:
    """Points to take back for a return, given what the original sale earned.

    ``returned_so_far`` is the money returned against the original, this return
    included. The reversal is the same share of the earned points (rounded half
    up), minus what earlier returns of the same sale already took back; returning
    the whole sale (or more) takes back exactly what it earned.
    """
    if earned <= 0 or original_total <= 0:
        return 0
    share = min(Decimal(1), abs(returned_so_far) / original_total)
    target = int((Decimal(earned) * share).to_integral_value(rounding=ROUND_HALF_UP))
    return max(0, min(target, earned) - already_reversed)


@dataclass(frozen=True)
class Lot:
    """A positive entry (points that can expire), in FIFO order."""

    expires_on: dt.date | None
    points: int


def lots_remaining(lots: list[Lot], debits: int) -> list[int]:
    """What is left of each lot after ``debits`` points were taken oldest first (FIFO).

    ``lots`` must be sorted oldest expiry first (never-expiring last). Debits larger
    than all lots (a debt) leave every lot empty.
    """
    left = max(0, debits)
    remaining = []
    for lot in lots:
        used = min(lot.points, left)
        left -= used
        remaining.append(lot.points - used)
    return remaining


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus ``months`` calendar months, clamped to the month's last day (Jan 31 + 1 → Feb 28)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def expiry_date(*, earned_on: dt.date, months: int) -> dt.date | None:
    """The day points earned on ``earned_on`` expire (they are gone from that day on); None if never."""
    if months <= 0:
        return None
    return add_months(earned_on, months)


@dataclass(frozen=True)
class TierRule:
    id: int
    rank: int
    basis: str  # "spend" | "visits"
    threshold: Decimal


def qualifying_tier(tiers: list[TierRule], *, spend: Decimal, visits: int) -> TierRule | None:
    """The highest-ranked tier whose threshold the trailing-12-month spend or visits reach."""
    best = None
    for tier in tiers:
        value = spend if tier.basis == "spend" else Decimal(visits)
        if value >= tier.threshold and (best is None or tier.rank > best.rank):
            best = tier
    return best


@dataclass(frozen=True)
class TierDecision:
    tier_id: int | None
    until: dt.date | None
    warn_downgrade: bool  # qualifies for less, but keeps the tier until ``until``


def tier_decide(
    *,
    current_id: int | None,
    current_rank: int | None,
    current_until: dt.date | None,
    qualified: TierRule | None,
    today: dt.date,
    period_months: int = 12,
) -> TierDecision:
    """Move a customer up at once; move them down only when their tier period has ended.

    An upgrade starts a new period of ``period_months``. A customer who no longer
    qualifies keeps the tier until ``current_until`` and gets a warning meanwhile.
    """
    q_rank = qualified.rank if qualified else -1
    c_rank = current_rank if current_id is not None else -1
    if q_rank > c_rank:
        return TierDecision(qualified.id, add_months(today, period_months), False)
    if q_rank == c_rank:
        if current_id is not None and (current_until is None or current_until <= today):
            return TierDecision(current_id, add_months(today, period_months), False)  # renewed
        return TierDecision(current_id, current_until, False)
    # Qualifies for less than they hold.
    if current_until is not None and current_until > today:
        return TierDecision(current_id, current_until, True)
    new_until = add_months(today, period_months) if qualified else None
    return TierDecision(qualified.id if qualified else None, new_until, False)


def points_to_next(balance: int, costs: list[int]) -> int | None:
    """Points still missing for the cheapest reward the balance cannot buy yet (None if none)."""
    missing = [c - balance for c in costs if c > balance]
    return min(missing) if missing else None
