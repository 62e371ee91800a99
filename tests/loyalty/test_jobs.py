"""Nightly jobs and imports: FIFO expiry, warnings, tiers, birthdays, opening balances. Each is idempotent."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command

from customers.models import AuditEntry
from loyalty.models import Account, EntryKind, Notice, PointsEntry
from loyalty.services import (
    LoyaltyError,
    account_open,
    expiry_warnings_queue,
    points_adjust,
    points_birthday_grant,
    points_expire,
    points_redeem,
    tiers_recompute,
)
from tests.factories import CustomerFactory
from tests.loyalty.conftest import RewardFactory, balance_of, earn, ledger_sum, sale

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def at(y, m, d):
    return dt.datetime(y, m, d, 10, 0, tzinfo=UTC)


def test_points_expire_oldest_first_after_spending_and_a_second_run_changes_nothing(chain_rules, store):
    customer = CustomerFactory(home_store=store)
    earn(sale(customer, "100.00", at=at(2025, 1, 10)))  # expires 2026-01-10
    earn(sale(customer, "50.00", at=at(2025, 6, 10)))  # expires 2026-06-10
    reward = RewardFactory(points_cost=120, amount=Decimal("2.00"))
    points_redeem(
        account=account_open(customer=customer),
        reward=reward,
        store=store,
        by=None,
        key="r",
        source="counter",
        as_of=at(2025, 7, 1),
    )  # spends the whole first lot and 20 of the second: 30 left, all from June
    assert points_expire(as_of=at(2026, 1, 11)) == 0  # the January lot was already spent
    assert balance_of(customer) == 30
    assert points_expire(as_of=at(2026, 6, 10)) == 1
    assert balance_of(customer) == 0
    assert points_expire(as_of=at(2026, 6, 10)) == 0
    assert points_expire(as_of=at(2026, 6, 11)) == 0
    assert PointsEntry.objects.get(kind=EntryKind.EXPIRE).points == -30
    assert ledger_sum(customer) == 0


def test_only_the_expired_lot_goes_and_newer_points_stay(chain_rules, store):
    customer = CustomerFactory(home_store=store)
    earn(sale(customer, "40.00", at=at(2025, 3, 1)), sale(customer, "25.00", at=at(2025, 12, 1)))
    call_command("loyalty_expire_points", as_of="2026-03-02T03:00:00+00:00")
    call_command("loyalty_expire_points", as_of="2026-03-02T03:00:00+00:00")
    assert balance_of(customer) == 25


def test_expiry_warning_is_queued_once_for_points_expiring_within_the_warning_period(chain_rules, store):
    customer = CustomerFactory(home_store=store)
    earn(sale(customer, "60.00", at=at(2025, 11, 20)))  # expires 2026-11-20
    earn(sale(customer, "10.00", at=at(2026, 5, 1)))
    assert expiry_warnings_queue(as_of=at(2026, 10, 1)) == 0  # 50 days ahead: not yet
    assert expiry_warnings_queue(as_of=at(2026, 11, 1)) == 1
    assert expiry_warnings_queue(as_of=at(2026, 11, 1)) == 0
    assert expiry_warnings_queue(as_of=at(2026, 11, 5)) == 0  # warned recently
    notice = Notice.objects.get()
    assert (notice.kind, notice.due_on, notice.points) == (Notice.Kind.EXPIRY_WARNING, dt.date(2026, 11, 20), 60)


def test_tier_moves_up_when_spend_reaches_the_threshold_and_down_only_at_the_end_of_the_period(
    chain_rules, store, tiers
):
    customer = CustomerFactory(home_store=store)
    earn(sale(customer, "100.00", at=at(2026, 1, 5)))
    tiers_recompute(as_of=at(2026, 1, 6))
    account = Account.objects.get(customer=customer)
    assert account.tier == tiers["regular"]
    earn(sale(customer, "2500.00", at=at(2026, 2, 1)))
    assert tiers_recompute(as_of=at(2026, 2, 2))["up"] == 1
    account.refresh_from_db()
    assert (account.tier, account.tier_until) == (tiers["premier"], dt.date(2027, 2, 2))
    assert tiers_recompute(as_of=at(2026, 2, 2)) == {"up": 0, "down": 0, "warned": 0}  # idempotent
    # A year later the spend has left the window: they keep Premier until the period ends, with a notice.
    assert tiers_recompute(as_of=at(2027, 2, 1)) == {"up": 0, "down": 0, "warned": 1}
    assert tiers_recompute(as_of=at(2027, 2, 1)) == {"up": 0, "down": 0, "warned": 0}
    account.refresh_from_db()
    assert account.tier == tiers["premier"]
    assert Notice.objects.filter(kind=Notice.Kind.TIER_DOWNGRADE, due_on=dt.date(2027, 2, 2)).count() == 1
    assert tiers_recompute(as_of=at(2027, 2, 2))["down"] == 1
    account.refresh_from_db()
    assert account.tier == tiers["regular"]


def test_tier_by_visits_counts_days_with_a_sale(chain_rules, store):
    from tests.loyalty.conftest import TierFactory

    frequent = TierFactory(name="Frequent", rank=5, basis="visits", threshold=Decimal("3"))
    customer = CustomerFactory(home_store=store)
    earn(
        sale(customer, "5.00", at=at(2026, 3, 1)),
        sale(customer, "5.00", at=at(2026, 3, 1) + dt.timedelta(hours=2)),  # same day: one visit
        sale(customer, "5.00", at=at(2026, 3, 8)),
    )
    tiers_recompute(as_of=at(2026, 3, 9))
    assert Account.objects.get(customer=customer).tier is None
    earn(sale(customer, "5.00", at=at(2026, 3, 15)))
    tiers_recompute(as_of=at(2026, 3, 16))
    assert Account.objects.get(customer=customer).tier == frequent


def test_a_ticket_landing_moves_the_tier_at_once(chain_rules, store, tiers, django_capture_on_commit_callbacks):
    from customers.signals import send_tickets_created

    customer = CustomerFactory(home_store=store)
    ticket = sale(customer, "3000.00", at=dt.datetime.now(tz=UTC) - dt.timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        send_tickets_created([ticket.pk])
    assert Account.objects.get(customer=customer).tier == tiers["premier"]


def test_birthday_bonus_once_a_year_even_when_the_job_runs_twice_or_a_night_is_missed(chain_rules, store):
    birthday = CustomerFactory(home_store=store, birthday=dt.date(1990, 10, 30))
    leap = CustomerFactory(home_store=store, birthday=dt.date(1992, 2, 29))
    CustomerFactory(home_store=store, birthday=dt.date(1990, 12, 25))
    assert points_birthday_grant(as_of=at(2026, 11, 1)) == 1  # two days late: still paid
    assert points_birthday_grant(as_of=at(2026, 11, 1)) == 0
    assert points_birthday_grant(as_of=at(2026, 11, 2)) == 0
    assert balance_of(birthday) == 40
    assert points_birthday_grant(as_of=at(2027, 2, 28)) == 1  # 29 February in a common year
    assert balance_of(leap) == 40
    call_command("loyalty_birthday_bonuses", as_of="2027-10-30T08:00:00+00:00")
    assert balance_of(birthday) == 80


def test_manager_adjustment_needs_a_reason_never_goes_below_zero_and_is_audited(chain_rules, store, manager):
    account = account_open(customer=CustomerFactory(home_store=store))
    with pytest.raises(LoyaltyError):
        points_adjust(account=account, points=50, reason="  ", by=manager, key="a", as_of=at(2026, 11, 1))
    points_adjust(account=account, points=50, reason="Till was offline", by=manager, key="b", as_of=at(2026, 11, 1))
    points_adjust(account=account, points=50, reason="Till was offline", by=manager, key="b", as_of=at(2026, 11, 1))
    with pytest.raises(LoyaltyError):
        points_adjust(account=account, points=-60, reason="Typo", by=manager, key="c", as_of=at(2026, 11, 1))
    account.refresh_from_db()
    assert account.balance == 50
    audit = AuditEntry.objects.get(action="points_adjust")
    assert audit.actor == manager and audit.details["points"] == 50


def test_opening_balances_import_is_idempotent_and_reports_bad_lines(chain_rules, store, tmp_path, capsys):
    known, other = CustomerFactory(home_store=store), CustomerFactory(home_store=store)
    path = tmp_path / "old-system.csv"
    path.write_text(
        "card,points,as_of\n"
        f"{known.card_number},340,2026-09-30\n"
        "2999999999999,10,2026-09-30\n"
        f"{other.card_number},ten,2026-09-30\n"
        f"{other.card_number},15,30/09/2026\n"
    )
    call_command("import_opening_balances", str(path))
    first = capsys.readouterr()
    assert "inserted: 1" in first.out
    assert "Line 3" in first.err and "Line 4" in first.err and "Line 5" in first.err
    call_command("import_opening_balances", str(path))
    assert "inserted: 0, already imported: 1" in capsys.readouterr().out
    assert balance_of(known) == 340
    entry = PointsEntry.objects.get(kind=EntryKind.OPENING)
    assert entry.expires_on == dt.date(2027, 9, 30)


def test_every_nightly_command_run_twice_changes_nothing_the_second_time(chain_rules, store, tiers):
    customer = CustomerFactory(home_store=store, birthday=dt.date(1980, 11, 1))
    earn(sale(customer, "80.00", at=at(2025, 11, 20)), sale(customer, "3000.00", at=at(2026, 10, 1)))
    commands = [
        "loyalty_expire_points",
        "loyalty_expiry_warnings",
        "loyalty_recompute_tiers",
        "loyalty_birthday_bonuses",
    ]
    for name in commands:
        call_command(name, as_of="2026-11-01T02:00:00+00:00")

    def state():
        account = Account.objects.get(customer=customer)
        return (
            account.balance,
            account.tier_id,
            account.tier_until,
            PointsEntry.objects.count(),
            list(Notice.objects.values_list("kind", "due_on", "points")),
        )

    before = state()
    for name in commands:
        call_command(name, as_of="2026-11-01T02:00:00+00:00")
    assert state() == before
    assert before[1] == tiers["premier"].pk
    assert len(before[4]) == 1  # the expiry warning for the 80 points due 2025-11-20 + 12 months
