"""A hypothesis state machine over the points ledger, checked against PostgreSQL after every step.

Any sequence of earns (sales), redemptions (including ones that must be refused: too few
points, a debt, a reward out of stock), returns (points clawed back, possibly into debt),
expiries and a clock that only moves forward keeps, for every account:

- the cached ``Account.balance`` equal to the sum of its ledger entries — checked in Python and
  by the database's own deferred trigger, fired on the spot with ``SET CONSTRAINTS ALL IMMEDIATE``;
- the balance at or above the allowed floor: only a return's reversal may push it below zero, so
  it is never below minus the points reversed so far, and no redemption or expiry leaves it
  below zero (``balance_after >= 0`` on every redeem and expire entry);
- a redemption refused exactly when the model says the balance is short or in debt.

Each run of steps happens inside a savepoint that is rolled back, so runs do not see each other.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from loyalty.models import Account, EntryKind, PointsEntry
from loyalty.services import LoyaltyError, account_open, points_earn_for_tickets, points_expire, points_redeem
from tests.factories import CustomerFactory, TicketFactory
from tests.loyalty.conftest import RewardFactory

pytestmark = pytest.mark.django_db

START = dt.datetime(2025, 1, 6, 10, 0, tzinfo=dt.UTC)


class LedgerMachine(RuleBasedStateMachine):
    """Two customers of one store; the model is the balance we expect and the points reversed so far."""

    store = None  # set by the test (fixtures live outside the machine)

    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.clock = START
        self.customers = [CustomerFactory(home_store=self.store) for _ in range(2)]
        self.accounts = [account_open(customer=c) for c in self.customers]
        self.expected = [0, 0]
        self.reversed = [0, 0]
        self.sales: list[list] = [[], []]
        self.rewards = [
            RewardFactory(name="Small", points_cost=100),
            RewardFactory(name="Big", points_cost=900),
            RewardFactory(name="Last one", points_cost=50, stock=1),
        ]
        self.stock_left = 1
        self.keys = 0

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    @initialize()
    def nothing_yet(self):
        pass

    # -- steps ----------------------------------------------------------------------------------
    @rule(who=st.integers(0, 1), total=st.decimals("0.01", "800.00", places=2))
    def earn(self, who, total):
        ticket = TicketFactory(customer=self.customers[who], store=self.store, total=total, purchased_at=self.clock)
        entries = points_earn_for_tickets(ticket_ids=[ticket.pk])
        self.expected[who] += sum(e.points for e in entries)
        if entries:
            self.sales[who].append(ticket)

    @precondition(lambda self: self.sales[0] or self.sales[1])
    @rule(data=st.data(), share=st.sampled_from([Decimal("0.1"), Decimal("0.5"), Decimal("1"), Decimal("1.3")]))
    def a_return_claws_points_back(self, data, share):
        who = data.draw(st.sampled_from([i for i in (0, 1) if self.sales[i]]))
        original = data.draw(st.sampled_from(self.sales[who]))
        money = max(Decimal("0.01"), (original.total * share).quantize(Decimal("0.01")))
        refund = TicketFactory(
            customer=original.customer,
            store=self.store,
            total=-money,
            is_return=True,
            original=original,
            purchased_at=self.clock,
        )
        entries = points_earn_for_tickets(ticket_ids=[refund.pk])
        assert all(e.kind == EntryKind.REVERSE and e.points < 0 for e in entries)
        taken = -sum(e.points for e in entries)
        self.expected[who] -= taken
        self.reversed[who] += taken

    @rule(who=st.integers(0, 1), which=st.integers(0, 2))
    def redeem(self, who, which):
        reward = self.rewards[which]
        balance = self.expected[who]
        should_refuse = (
            balance < 0 or balance < reward.points_cost or (reward.stock is not None and not self.stock_left)
        )
        self.keys += 1
        try:
            voucher = points_redeem(
                account=self.accounts[who],
                reward=reward,
                store=self.store,
                by=None,
                key=f"fuzz:{self.keys}",
                source="api",
                as_of=self.clock,
            )
        except LoyaltyError as refusal:
            assert should_refuse, f"refused ({refusal.code}) with {balance} points for {reward.points_cost}"
            return
        assert not should_refuse, f"redeemed {reward.points_cost} with a balance of {balance}"
        assert voucher.entry.balance_after >= 0
        self.expected[who] -= reward.points_cost
        if reward.stock is not None:
            self.stock_left -= 1

    @rule(days=st.integers(1, 200))
    def time_passes_and_points_expire(self, days):
        self.clock += dt.timedelta(days=days)
        before = [self._cached(i) for i in (0, 1)]
        points_expire(as_of=self.clock)
        for i in (0, 1):
            expired = before[i] - self._cached(i)
            assert expired >= 0 and (expired == 0 or self._cached(i) >= 0)
            self.expected[i] -= expired

    @rule()
    def expiry_run_again_the_same_day_adds_nothing(self):
        entries = PointsEntry.objects.count()
        points_expire(as_of=self.clock)
        assert PointsEntry.objects.count() == entries

    # -- the invariants, after every step ----------------------------------------------------------
    def _cached(self, i: int) -> int:
        return Account.objects.values_list("balance", flat=True).get(pk=self.accounts[i].pk)

    @invariant()
    def the_database_agrees_the_cache_is_the_sum(self):
        with connection.cursor() as cur:  # fire the deferred balance = sum trigger now, not at commit
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cur.execute("SET CONSTRAINTS ALL DEFERRED")

    @invariant()
    def balance_is_the_sum_and_above_the_floor(self):
        for i in (0, 1):
            cached = self._cached(i)
            total = PointsEntry.objects.filter(account_id=self.accounts[i].pk).aggregate(s=Sum("points"))["s"] or 0
            assert cached == total == self.expected[i], (cached, total, self.expected[i])
            assert cached >= -self.reversed[i]
        assert not PointsEntry.objects.filter(
            kind__in=[EntryKind.REDEEM, EntryKind.EXPIRE], balance_after__lt=0
        ).exists()


def test_any_sequence_keeps_the_ledger_and_the_cached_balance_in_step(store, chain_rules):
    LedgerMachine.store = store
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=50,
            stateful_step_count=15,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
