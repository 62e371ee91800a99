"""The PostgreSQL SQL path and the ORM path (the embedded SQLite default's) compute the same figures."""

import dataclasses
from collections import Counter

import pytest

from outreach import analytics, rules
from outreach.models import CustomerSegmentState
from outreach.services import policy_for, segments_refresh
from tests.outreach.conftest import AS_OF_DATE, generate_chain

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain(db):
    return generate_chain(customers=250)


def test_sql_and_orm_visit_stats_agree_for_the_chain_and_each_store(chain):
    policy = policy_for(store=None)
    windows = rules.windows_for(AS_OF_DATE, policy)
    for store_id in (None, chain["east"].pk, chain["west"].pk):
        sql = analytics.visit_stats(store_id=store_id, windows=windows, policy=policy)
        orm = analytics.visit_stats(store_id=store_id, windows=windows, policy=policy, force_orm=True)
        assert len(sql) > 100
        assert [dataclasses.asdict(s) for s in sql] == [dataclasses.asdict(s) for s in orm]
    # The generator must exercise what the comparison is about.
    assert any(s.tickets > s.visits for s in sql)
    assert any(s.referred_buyers for s in analytics.visit_stats(store_id=None, windows=windows, policy=policy))


def test_sql_and_orm_ranks_agree(chain, django_assert_max_num_queries):
    from django.utils import timezone

    segments_refresh(store=None, as_of=AS_OF_DATE, now=timezone.now())
    policy = dataclasses.replace(policy_for(store=None), best_top_n=37)
    fields = ("customer_id", "is_best", "best_rank")
    sql = analytics.ranks_apply(scope_key="chain", policy=policy)
    after_sql = list(
        CustomerSegmentState.objects.filter(scope_key="chain").order_by("customer_id").values_list(*fields)
    )
    # Back to the run's ranks, then the ORM path must land on exactly the same rows, groups and cuts.
    analytics.ranks_apply(scope_key="chain", policy=policy_for(store=None))
    orm = analytics.ranks_apply(scope_key="chain", policy=policy, force_orm=True)
    after_orm = list(
        CustomerSegmentState.objects.filter(scope_key="chain").order_by("customer_id").values_list(*fields)
    )
    assert after_sql == after_orm
    assert sorted(sql.flips) == sorted(orm.flips) and sql.flips
    assert sum(1 for r in after_sql if r[1]) == 37
    assert analytics.segment_counts(sql.groups) == analytics.segment_counts(orm.groups)
    assert sql.cuts == orm.cuts
    # Every customer's scores from the cuts add up to the counted groups.
    states = list(CustomerSegmentState.objects.filter(scope_key="chain"))
    scored = Counter()
    for s in states:
        r, f, m, abc = analytics.rank_scores(s, sql.cuts)
        scored[(s.status, s.ladder, s.is_best, s.is_at_risk, abc, s.xyz, r, f)] += 1
    assert scored == Counter({tuple(g[k] for k in analytics.GROUP_KEYS): g["n"] for g in sql.groups})
    assert {k[4] for k in scored} >= {"A", "B", "C"}
    assert {k[6] for k in scored} == {1, 2, 3, 4, 5}


def test_query_count_does_not_grow_with_customers(django_assert_max_num_queries):
    """60 customers or 660: the same number of queries (chunks are bounded, nothing runs per customer)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    generate_chain(customers=60, seed=1, prefix="SMA")
    with CaptureQueriesContext(connection) as small:
        segments_refresh(store=None, as_of=AS_OF_DATE, now=timezone.now(), full=True)
    generate_chain(customers=600, seed=2, prefix="BIG")
    with CaptureQueriesContext(connection) as large:
        segments_refresh(store=None, as_of=AS_OF_DATE, now=timezone.now(), full=True)
    assert len(large.captured_queries) <= len(small.captured_queries) + 3
