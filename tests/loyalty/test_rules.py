"""Pure rules, no database."""

import datetime as dt
from decimal import Decimal

from loyalty import rules as r


def test_points_round_down_per_ticket_and_stop_at_the_cap():
    kw = {"points_per_unit": Decimal("1"), "min_ticket": Decimal("0"), "cap": 100}
    assert r.points_for_sale(total=Decimal("99.99"), **kw) == 99
    assert r.points_for_sale(total=Decimal("5000"), **kw) == 100
    assert r.points_for_sale(total=Decimal("0"), **kw) == 0


def test_two_partial_returns_never_take_back_more_than_was_earned():
    first = r.reversal_for_return(
        earned=99, original_total=Decimal("100"), returned_so_far=Decimal("50"), already_reversed=0
    )
    second = r.reversal_for_return(
        earned=99, original_total=Decimal("100"), returned_so_far=Decimal("120"), already_reversed=first
    )
    assert (first, first + second) == (50, 99)


def test_fifo_takes_debits_from_the_oldest_lot_first():
    lots = [r.Lot(dt.date(2026, 1, 1), 100), r.Lot(dt.date(2026, 6, 1), 50), r.Lot(None, 10)]
    assert r.lots_remaining(lots, 120) == [0, 30, 10]
    assert r.lots_remaining(lots, 1000) == [0, 0, 0]


def test_months_are_added_to_the_end_of_short_months():
    assert r.add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert r.expiry_date(earned_on=dt.date(2026, 3, 1), months=0) is None


def test_a_tier_is_kept_until_its_period_ends_with_a_warning():
    premier = r.TierRule(2, 2, "spend", Decimal("2500"))
    regular = r.TierRule(1, 1, "spend", Decimal("0"))
    decision = r.tier_decide(
        current_id=2, current_rank=2, current_until=dt.date(2027, 1, 1), qualified=regular, today=dt.date(2026, 12, 1)
    )
    assert (decision.tier_id, decision.warn_downgrade) == (2, True)
    decision = r.tier_decide(
        current_id=2, current_rank=2, current_until=dt.date(2027, 1, 1), qualified=regular, today=dt.date(2027, 1, 1)
    )
    assert (decision.tier_id, decision.until) == (1, dt.date(2028, 1, 1))
    assert r.qualifying_tier([regular, premier], spend=Decimal("2500"), visits=0) == premier
