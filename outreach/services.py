"""Segmentation writes: start a run (with the scope lock), apply chunks of customers, finish.

A run has three phases, so that Celery can fan the middle one out:

1. ``segments_run_start`` takes the scope's lock (the partial unique index "one running run per scope"),
   decides full or incremental and splits the customers to recompute into chunks (≥ 500 customers each,
   at most ``MAX_CHUNKS`` chunks, so the number of queries does not grow with the chain).
2. ``segments_chunk_apply`` recomputes one chunk's figures from tickets (one set-based query), classifies
   them with :mod:`outreach.rules` and writes only rows and history that changed.
3. ``segments_run_finish`` fits BG/NBD on the scope's distinct (x, t_x, T) combinations, updates P(alive),
   expected visits and "at risk", recomputes the ranks (best, RFM, ABC) in one statement, counts.

Incremental runs recompute the customers with tickets newer than the last run's watermark, those queued
by ``tickets_created``, those with tickets on days that newly fall before ``as_of``, the referrers of all
of these, and those whose ``due_on`` (the next day time alone changes their figures) has come. The other
customers' ticket figures cannot have changed, so the result equals a full run's.

A worker may die anywhere (SIGKILL, OOM, a lost node). The run row is the truth: it keeps the plan and the
indexes of the chunks whose writes are committed (``segments_chunk_done``, under the row lock), so a
redelivered chunk is applied again harmlessly (its figures are already equal) but never counted twice; and
``segments_sweep`` re-queues the chunks (or the finish step) of a run that showed no sign of life for
longer than ``SEGMENT_LEASE`` — the Redis message of a task whose whole worker died stays unacknowledged
until the visibility timeout (a day). The finish step is one transaction under the run's row lock.
"""

import datetime as dt
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from django.db import IntegrityError, transaction
from django.db.models import Case, Count, F, Max, Min, Q, When
from django.db.models.functions import Least

from customers.models import Customer, PurchaseTicket, Store

from . import analytics, bgnbd, rules
from .models import (
    CHAIN,
    CustomerSegmentState,
    PendingCustomer,
    SegmentChange,
    SegmentPolicy,
    SegmentRun,
    scope_key_for,
)

logger = logging.getLogger(__name__)

MIN_CHUNK = 500
TARGET_CHUNK = 10_000
MAX_CHUNKS = 16
MIN_FIT_CUSTOMERS = 30
STALE_AFTER = dt.timedelta(hours=3)
# Longer than a task may live (CELERY_TASK_TIME_LIMIT kills a chunk after 31 minutes by default): a run
# quiet for longer than this has lost a task, not a slow one.
SEGMENT_LEASE = dt.timedelta(minutes=35)
# The per-customer figures a run writes (both engines; analytics writes them in SQL).
STATE_FIELDS = analytics.STATE_COLUMNS


class SegmentRunBusy(Exception):
    """Another refresh of the same scope is running."""

    def __init__(self, run: SegmentRun | None):
        super().__init__(f"segment run {run.pk if run else '?'} is running for this scope")
        self.run = run


@dataclass(frozen=True)
class ChunkSpec:
    """A slice of customers for one chunk task: an id range (full run) or explicit ids (incremental)."""

    id_range: tuple[int, int] | None = None
    ids: tuple[int, ...] | None = None

    @property
    def filter(self) -> analytics.CustomerFilter:
        return analytics.CustomerFilter(ids=self.ids, id_range=self.id_range)

    def to_json(self) -> dict:
        return {"id_range": list(self.id_range) if self.id_range else None, "ids": list(self.ids or []) or None}

    @classmethod
    def from_json(cls, data: dict) -> "ChunkSpec":
        ids = data.get("ids")
        rng = data.get("id_range")
        return cls(id_range=tuple(rng) if rng else None, ids=tuple(ids) if ids is not None else None)


# --- Settings --------------------------------------------------------------------------------------


def policy_row_for(*, store: Store | None) -> SegmentPolicy:
    """The settings row that applies: the store's override if it has one, else the chain's (created)."""
    if store is not None:
        row = SegmentPolicy.objects.filter(store=store).first()
        if row:
            return row
    row = SegmentPolicy.objects.filter(store__isnull=True).first()
    if row is None:
        try:
            with transaction.atomic():
                row = SegmentPolicy.objects.create(store=None)
            row.refresh_from_db()  # Decimal("3") → Decimal("3.00"), as every later read
        except IntegrityError:
            row = SegmentPolicy.objects.get(store__isnull=True)
    return row


def policy_for(*, store: Store | None) -> rules.Policy:
    row = policy_row_for(store=store)
    return rules.Policy(**{f: getattr(row, f) for f in rules.Policy.__dataclass_fields__})


def policy_snapshot(policy: rules.Policy) -> dict:
    """The policy as JSON-comparable strings."""
    return {k: str(v) for k, v in policy.__dict__.items()}


# --- Run lifecycle ---------------------------------------------------------------------------------


def _expire_stale_runs(*, scope_key: str, now: dt.datetime) -> None:
    """A run whose worker died keeps the lock forever; after STALE_AFTER it is marked failed."""
    SegmentRun.objects.filter(
        scope_key=scope_key, status=SegmentRun.Status.RUNNING, started_at__lt=now - STALE_AFTER
    ).update(status=SegmentRun.Status.FAILED, finished_at=now, error="stale: no progress")


def segments_run_start(
    *, store: Store | None, as_of: dt.date, now: dt.datetime, full: bool = False, by=None
) -> tuple[SegmentRun, list[ChunkSpec]]:
    """Take the scope's lock, record a running SegmentRun and plan its chunks. Raises SegmentRunBusy."""
    scope_key = scope_key_for(store)
    _expire_stale_runs(scope_key=scope_key, now=now)
    # The visit-day table must hold every ticket the run plans with (PostgreSQL; a no-op elsewhere).
    analytics.visit_days_sync(now=now)
    prev = (
        SegmentRun.objects.filter(scope_key=scope_key, status=SegmentRun.Status.DONE)
        .order_by("-started_at", "-id")
        .first()
    )
    snapshot = policy_snapshot(policy_for(store=store))
    incremental = not full and prev is not None and prev.as_of <= as_of and prev.policy_snapshot == snapshot
    tickets = PurchaseTicket.objects.all() if store is None else PurchaseTicket.objects.filter(store=store)
    ticket_watermark = tickets.aggregate(m=Max("id"))["m"] or 0
    pending_watermark = PendingCustomer.objects.filter(scope_key=scope_key).aggregate(m=Max("id"))["m"] or 0
    try:
        with transaction.atomic():
            run = SegmentRun.objects.create(
                scope_key=scope_key,
                store=store,
                as_of=as_of,
                mode=SegmentRun.Mode.INCREMENTAL if incremental else SegmentRun.Mode.FULL,
                started_at=now,
                ticket_watermark=ticket_watermark,
                pending_watermark=pending_watermark,
                policy_snapshot=snapshot,
                requested_by=by,
            )
    except IntegrityError:
        raise SegmentRunBusy(
            SegmentRun.objects.filter(scope_key=scope_key, status=SegmentRun.Status.RUNNING).first()
        ) from None
    if incremental:
        ids = sorted(_changed_customers(run=run, prev=prev, store=store))
        # As many chunks as a full run would cut for this many customers (each chunk has a fixed cost).
        parts = max(1, min(MAX_CHUNKS, math.ceil(len(ids) / TARGET_CHUNK)))
        size = max(MIN_CHUNK, math.ceil(len(ids) / parts))
        chunks = [ChunkSpec(ids=tuple(ids[i : i + size])) for i in range(0, len(ids), size)]
        total = len(ids)
    else:
        chunks, total = _full_chunks()
    SegmentRun.objects.filter(pk=run.pk).update(
        progress_total=len(chunks) + 1,
        customers_recomputed=total,
        chunks=len(chunks),
        chunks_left=len(chunks),
        plan=[chunk.to_json() for chunk in chunks],
        touched_at=now,
    )
    run.refresh_from_db()
    logger.info(
        "segment run %s planned: scope=%s mode=%s chunks=%s customers=%s",
        run.pk,
        scope_key,
        run.mode,
        len(chunks),
        total,
    )
    return run, chunks


def _full_chunks() -> tuple[list[ChunkSpec], int]:
    """Equal id ranges over all customers (≥ MIN_CHUNK customers each unless there are fewer)."""
    agg = Customer.objects.aggregate(lo=Min("id"), hi=Max("id"), n=Count("id"))
    if not agg["n"]:
        return [], 0
    parts = max(1, min(MAX_CHUNKS, math.ceil(agg["n"] / TARGET_CHUNK), agg["n"] // MIN_CHUNK or 1))
    lo, hi = agg["lo"], agg["hi"]
    step = math.ceil((hi - lo + 1) / parts)
    return [ChunkSpec(id_range=(a, min(a + step - 1, hi))) for a in range(lo, hi + 1, step)], agg["n"]


def _changed_customers(*, run: SegmentRun, prev: SegmentRun, store: Store | None) -> set[int]:
    """Customers whose figures may differ from the previous run's (see the module docstring)."""
    tickets = PurchaseTicket.objects.filter(customer__isnull=False)
    if store is not None:
        tickets = tickets.filter(store=store)
    ids = set(tickets.filter(id__gt=prev.ticket_watermark).values_list("customer_id", flat=True).distinct())
    if run.as_of > prev.as_of:
        ids |= analytics.customers_with_tickets_between(
            store_id=store.pk if store else None, purchased_from=prev.as_of, as_of=run.as_of
        )
    ids |= set(
        PendingCustomer.objects.filter(scope_key=run.scope_key, id__lte=run.pending_watermark).values_list(
            "customer_id", flat=True
        )
    )
    due = set(
        CustomerSegmentState.objects.filter(scope_key=run.scope_key, due_on__lte=run.as_of).values_list(
            "customer_id", flat=True
        )
    )
    if (run.as_of.year, run.as_of.month) == (prev.as_of.year, prev.as_of.month):
        # Most customers due by time alone are due only because their oldest visit left the 365-day
        # window: slid in one statement instead of recomputed (the monthly figures move only with the
        # month, so only within the previous run's month).
        policy = policy_for(store=store)
        due -= set(
            analytics.segment_slide(
                scope_key=run.scope_key,
                store_id=store.pk if store else None,
                customer_ids=sorted(due - ids),
                windows=rules.windows_for(run.as_of, policy),
                policy=policy,
            )
        )
    ids |= due
    # A referred customer's first purchase can make their referrer an advocate.
    ids |= set(
        Customer.objects.filter(pk__in=list(ids), referred_by__isnull=False).values_list("referred_by_id", flat=True)
    )
    return ids


def segments_chunk_apply(*, run: SegmentRun, chunk: ChunkSpec) -> int:
    """Recompute one chunk of customers from their tickets and write what changed. Returns customers covered."""
    policy = policy_for(store=run.store)
    windows = rules.windows_for(run.as_of, policy)
    if analytics.use_sql():
        covered = analytics.segment_chunk_write(
            run_id=run.pk,
            scope_key=run.scope_key,
            store_id=run.store_id,
            as_of=run.as_of,
            customers=chunk.filter,
            windows=windows,
            policy=policy,
        )
        SegmentRun.objects.filter(pk=run.pk).update(progress_done=_bounded_progress(1))
        return covered
    stats = analytics.visit_stats(store_id=run.store_id, windows=windows, policy=policy, customers=chunk.filter)
    existing = {
        row[1]: row
        for row in CustomerSegmentState.objects.filter(chunk.filter.q("customer_id"), scope_key=run.scope_key)
        .values_list("pk", "customer_id", *STATE_FIELDS, "is_best", "is_at_risk")
        .iterator(chunk_size=5000)
    }
    status_at, ladder_at = 2 + STATE_FIELDS.index("status"), 2 + STATE_FIELDS.index("ladder")
    creates, updates, changes = [], [], []
    for st in stats:
        c = rules.classify(st, windows, policy)
        values = (
            st.visits,
            st.tickets,
            st.first_visit,
            st.last_visit,
            st.median_gap_days,
            st.window_visits,
            st.window_revenue,
            st.oldest_inside[0] if st.oldest_inside else None,
            c.quarters_with_visit,
            c.monthly_cv,
            st.referred_buyers,
            c.status,
            c.ladder,
            c.due_on,
            c.xyz,
        )
        old = existing.pop(st.customer_id, None)
        if old is None:
            creates.append((run.scope_key, st.customer_id, *values, False, False))
            changes += _moves(run, st.customer_id, ("", ""), (c.status, c.ladder))
        elif old[2 : 2 + len(values)] != values:
            changes += _moves(run, st.customer_id, (old[status_at], old[ladder_at]), (c.status, c.ladder))
            updates.append((old[0], *values))
    # Customers of the chunk with a state but no visit any more (tickets unlinked or moved away).
    gone = list(existing.values())
    for row in gone:
        changes += _moves(run, row[1], (row[status_at], row[ladder_at]), ("", ""))
        changes += _flag_moves(run, row[1], best=(row[-2], False), at_risk=(row[-1], False))
    with transaction.atomic():
        if gone:
            CustomerSegmentState.objects.filter(pk__in=[row[0] for row in gone]).delete()
        analytics.rows_insert(
            model=CustomerSegmentState,
            rows=creates,
            fields=("scope_key", "customer_id", *STATE_FIELDS, "is_best", "is_at_risk"),
        )
        analytics.rows_update(model=CustomerSegmentState, rows=updates, fields=STATE_FIELDS)
        _changes_insert(changes)
        covered = len(chunk.ids) if chunk.ids is not None else len(stats) + len(gone)
        SegmentRun.objects.filter(pk=run.pk).update(progress_done=_bounded_progress(1))
    return covered


def segments_chunk_done(*, run_id: int, index: int | None, chunk: ChunkSpec, now: dt.datetime) -> int | None:
    """Record that chunk ``index`` of the run is committed; the chunks left, or None if it was counted already.

    Called after ``segments_chunk_apply`` committed. Under the run's row lock, so two deliveries of one
    chunk (a redelivery after a killed worker, a sweep) count it once and only the chunk that really
    completes the plan sees 0 and enqueues the finish step. ``index`` None: a message queued before
    chunks had indexes; found by its spec in the plan.
    """
    with transaction.atomic():
        row = SegmentRun.objects.select_for_update().get(pk=run_id)
        if row.status != SegmentRun.Status.RUNNING:
            return None
        if index is None and chunk.to_json() in row.plan:
            index = row.plan.index(chunk.to_json())
        if index is None:  # a run planned before the plan was kept: count down as before
            row.chunks_left = max(row.chunks_left - 1, 0)
        elif index in row.chunks_done:
            return None
        else:
            row.chunks_done = sorted([*row.chunks_done, index])
            row.chunks_left = max(row.chunks - len(row.chunks_done), 0)
        row.touched_at = now
        row.save(update_fields=["chunks_left", "chunks_done", "touched_at"])
        return row.chunks_left


@dataclass(frozen=True)
class SweptRun:
    """What the sweeper re-queues for one quiet run: its missing chunks as (index, spec), or its finish."""

    run_id: int
    chunks: list[tuple[int, dict]]
    finish: bool


def segments_sweep(*, now: dt.datetime, lease: dt.timedelta = SEGMENT_LEASE) -> list[SweptRun]:
    """Runs still running but quiet for longer than ``lease``: the work to queue again (one sweep per lease).

    A chunk already committed is left out; when every chunk is committed, the finish step is re-queued.
    """
    swept: list[SweptRun] = []
    quiet = SegmentRun.objects.filter(status=SegmentRun.Status.RUNNING).filter(
        Q(touched_at__lt=now - lease) | Q(touched_at__isnull=True, started_at__lt=now - lease)
    )
    for run_id in quiet.values_list("pk", flat=True):
        with transaction.atomic():
            row = SegmentRun.objects.select_for_update().filter(pk=run_id, status=SegmentRun.Status.RUNNING).first()
            if row is None or (row.touched_at and row.touched_at >= now - lease):
                continue
            if not row.plan and row.chunks_left:  # planned before plans were kept: nothing to re-queue from
                continue
            done = set(row.chunks_done)
            missing = [(i, spec) for i, spec in enumerate(row.plan) if i not in done]
            row.touched_at = now
            row.save(update_fields=["touched_at"])
        swept.append(SweptRun(run_id=run_id, chunks=missing, finish=not missing))
        logger.info("segment run %s swept: %s chunks re-queued, finish=%s", run_id, len(missing), not missing)
    return swept


def _bounded_progress(step: int):
    """progress_done + step, never past progress_total − 1 (progress counts chunks; finishing is the last unit)."""
    return Case(
        When(progress_total=0, then=F("progress_done")),
        default=Least(F("progress_done") + step, F("progress_total") - 1),
    )


CHANGE_FIELDS = ("run_id", "scope_key", "customer_id", "kind", "from_value", "to_value", "as_of")


def _changes_insert(changes: list[tuple]) -> None:
    """Append history rows given as tuples of CHANGE_FIELDS."""
    analytics.rows_insert(model=SegmentChange, rows=changes, fields=CHANGE_FIELDS)


def _moves(run: SegmentRun, customer_id: int, old: tuple[str, str], new: tuple[str, str]) -> list[tuple]:
    """History rows for the status and ladder dimensions that changed."""
    return [
        (run.pk, run.scope_key, customer_id, kind, a, b, run.as_of)
        for kind, a, b in (("status", old[0], new[0]), ("ladder", old[1], new[1]))
        if a != b
    ]


def _flag_moves(run: SegmentRun, customer_id: int, **flags: tuple[bool, bool]) -> list[tuple]:
    """History rows for yes/no memberships (best, at_risk) that flipped: "" ↔ the segment's name."""
    return [
        (run.pk, run.scope_key, customer_id, kind, kind if a else "", kind if b else "", run.as_of)
        for kind, (a, b) in flags.items()
        if a != b
    ]


def segments_run_finish(*, run: SegmentRun, now: dt.datetime, params: bgnbd.BGNBDParams | None = None) -> SegmentRun:
    """Fit the model, update P(alive)/at risk and the ranks, count the segments and release the lock.

    One transaction under the run's row lock: a worker killed half-way leaves nothing half-done (the
    redelivered or swept finish starts again from the chunks' state), and a second finish of the same
    run waits, then finds it done and does nothing.
    """
    with transaction.atomic():
        status = SegmentRun.objects.select_for_update().filter(pk=run.pk).values_list("status", flat=True).first()
        if status != SegmentRun.Status.RUNNING:
            run.refresh_from_db()
            return run
        run = _finish_locked(run=run, now=now, params=params)
    if run.mode == SegmentRun.Mode.FULL or run.customers_recomputed > max(10_000, Customer.objects.count() // 5):
        # Vacuum after a run rewrote a good part of the table (a nightly run touches a few %); outside the
        # transaction above, where VACUUM cannot run.
        analytics.state_table_analyze()
    logger.info("segment run %s done: changes=%s", run.pk, run.changes)
    return run


def _finish_locked(*, run: SegmentRun, now: dt.datetime, params: bgnbd.BGNBDParams | None) -> SegmentRun:
    policy = policy_for(store=run.store)
    # A full run, or an incremental one that recomputed a fifth of the customers (not a nightly run).
    big = run.mode == SegmentRun.Mode.FULL or run.customers_recomputed > max(10_000, Customer.objects.count() // 5)
    if big:
        # Statistics first: the chunks may have just filled an empty table, and a planner that still
        # believes it empty joins it in nested loops (a cold run's rank update ran for minutes).
        analytics.state_table_analyze(vacuum=False)
    params_fitted_on = None
    if params is None:
        params, params_fitted_on = _recent_params(run=run)
    if params is None:
        params = _fit_state(scope_key=run.scope_key, as_of=run.as_of)
    if analytics.use_sql():
        analytics.model_apply_sql(
            run_id=run.pk,
            scope_key=run.scope_key,
            as_of=run.as_of,
            params=params,
            policy=policy,
            customer_ids=_recomputed_ids(run) if _same_model_as_previous(run=run, params=params) else None,
        )
        changes = []
    else:
        changes = _model_apply(run=run, params=params, policy=policy)
    ranks = analytics.ranks_apply(scope_key=run.scope_key, policy=policy)
    for customer_id, was, is_ in ranks.flips:
        changes += _flag_moves(run, customer_id, best=(was, is_))
    _changes_insert(changes)
    PendingCustomer.objects.filter(scope_key=run.scope_key, id__lte=run.pending_watermark).delete()
    run.counts = analytics.segment_counts(ranks.groups)
    run.rank_cuts = ranks.cuts
    run.model_params = (
        {
            "r": params.r,
            "alpha": params.alpha,
            "a": params.a,
            "b": params.b,
            "log_likelihood": params.log_likelihood if math.isfinite(params.log_likelihood) else None,
            "customers": params.customers,
            "unit": "days",
            "fitted_as_of": (params_fitted_on or run.as_of).isoformat(),
            "risk_on": True,
        }
        if params
        else {}
    )
    run.changes, run.ladder_moves = analytics.run_changes_summary(run_id=run.pk)
    run.status = SegmentRun.Status.DONE
    run.finished_at = now
    run.progress_done = run.progress_total
    run.save(
        update_fields=[
            "counts",
            "rank_cuts",
            "ladder_moves",
            "model_params",
            "changes",
            "status",
            "finished_at",
            "progress_done",
        ]
    )
    return run


def segments_run_fail(*, run_id: int, error: str, now: dt.datetime) -> None:
    """Mark a run failed (releases the scope lock); the error text carries no personal data."""
    SegmentRun.objects.filter(pk=run_id, status=SegmentRun.Status.RUNNING).update(
        status=SegmentRun.Status.FAILED, finished_at=now, error=error[:2000]
    )


def segments_refresh(
    *,
    store: Store | None,
    as_of: dt.date,
    now: dt.datetime,
    full: bool = False,
    by=None,
    params: bgnbd.BGNBDParams | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> SegmentRun:
    """Run every phase in this process (commands, the embedded default, tests).

    ``now`` is the start; ``clock`` (the interface's ``timezone.now``) stamps the finish, so the run's
    duration is real. Without it the finish is stamped ``now`` as well.
    """
    run, chunks = segments_run_start(store=store, as_of=as_of, now=now, full=full, by=by)
    try:
        for chunk in chunks:
            segments_chunk_apply(run=run, chunk=chunk)
        return segments_run_finish(run=run, now=clock() if clock else now, params=params)
    except Exception as exc:
        segments_run_fail(run_id=run.pk, error=f"{type(exc).__name__}: {exc}", now=now)
        raise


def segments_tickets_arrived(*, ticket_ids: list[int]) -> int:
    """New tickets (``tickets_created``): fold them into the visit-day table and queue their customers."""
    analytics.visit_days_apply(ticket_ids=ticket_ids)
    return segments_mark_pending(ticket_ids=ticket_ids)


def segments_mark_pending(*, ticket_ids: list[int]) -> int:
    """Queue the customers of these tickets for the next run of the chain and of each ticket's store."""
    pairs = set(
        PurchaseTicket.objects.filter(pk__in=ticket_ids, customer__isnull=False).values_list("customer_id", "store_id")
    )
    rows = [PendingCustomer(scope_key=CHAIN, customer_id=c) for c in {c for c, _ in pairs}]
    rows += [PendingCustomer(scope_key=f"store:{s}", customer_id=c) for c, s in pairs]
    PendingCustomer.objects.bulk_create(rows, ignore_conflicts=True, batch_size=2000)
    return len(rows)


def _queue_everywhere(customer_ids: list[int]) -> None:
    """Queue customers for the next run of the chain and of every store."""
    scopes = [CHAIN, *(f"store:{pk}" for pk in Store.objects.values_list("pk", flat=True))]
    PendingCustomer.objects.bulk_create(
        [PendingCustomer(scope_key=s, customer_id=c) for s in scopes for c in customer_ids],
        ignore_conflicts=True,
        batch_size=2000,
    )


def segments_customers_merged(*, survivor_id: int, duplicate_id: int) -> None:
    """A merge moved the duplicate's tickets and referrals to the survivor (no ticket is new, so the
    watermark would not see it): queue the survivor everywhere and keep the duplicate's history on the
    survivor. The duplicate's state rows go with the duplicate."""
    SegmentChange.objects.filter(customer_id=duplicate_id).update(customer_id=survivor_id)
    CustomerSegmentState.objects.filter(customer_id=duplicate_id).delete()
    # The tickets have moved already (same transaction): both customers' visit-days from their tickets.
    analytics.visit_days_rebuild(customer_ids=[survivor_id, duplicate_id])
    _queue_everywhere([survivor_id])


def segments_customer_erased(*, customer_id: int) -> None:
    """An erasure unlinked the customer's tickets: drop their segment state and history now (nothing
    derived from them stays), and queue them so the next runs re-rank everyone else."""
    CustomerSegmentState.objects.filter(customer_id=customer_id).delete()
    SegmentChange.objects.filter(customer_id=customer_id).delete()
    analytics.visit_days_forget(customer_id=customer_id)
    _queue_everywhere([customer_id])


# --- The visit model -------------------------------------------------------------------------------


def _fit_combos(combos: list[dict], as_of: dt.date, *, unit_days: float = 1.0) -> bgnbd.BGNBDParams | None:
    """Fit on distinct (visits, first, last) combinations; None when there is too little to fit."""
    if sum(c["n"] for c in combos) < MIN_FIT_CUSTOMERS or not any(c["visits"] > 1 for c in combos):
        return None
    end = as_of - dt.timedelta(days=1)  # the observation ends on the last day before as_of
    # In a fixed order: the database returns groups in any order, and the sums' rounding would move the
    # last digits of the parameters (and so a customer's risk_on by a day) between two runs of one day.
    combos = sorted(combos, key=lambda c: (c["visits"], c["first_visit"], c["last_visit"]))
    x = np.array([c["visits"] - 1 for c in combos], dtype=float)
    t_x = np.array([(c["last_visit"] - c["first_visit"]).days for c in combos], dtype=float) / unit_days
    T = np.array([(end - c["first_visit"]).days for c in combos], dtype=float) / unit_days
    w = np.array([c["n"] for c in combos], dtype=float)
    return bgnbd.fit(x, t_x, T, w)


REFIT_DAYS = 7


def _recent_params(*, run: SegmentRun) -> tuple[bgnbd.BGNBDParams | None, dt.date | None]:
    """The scope's model if it was fitted less than REFIT_DAYS before ``run.as_of`` (and not after it).

    The population's (r, α, a, b) drift slowly; refitting weekly saves a pass over the state table and
    the optimiser every night. Full and incremental runs follow the same rule, so they still agree.
    """
    previous = (
        SegmentRun.objects.filter(scope_key=run.scope_key, status=SegmentRun.Status.DONE)
        .exclude(model_params={})
        .order_by("-started_at", "-id")
        .values_list("model_params", flat=True)
        .first()
    )
    if not previous or "fitted_as_of" not in previous:
        return None, None
    fitted = dt.date.fromisoformat(previous["fitted_as_of"])
    if not (run.as_of - dt.timedelta(days=REFIT_DAYS) < fitted <= run.as_of):
        return None, None
    p = previous
    return bgnbd.BGNBDParams(
        p["r"], p["alpha"], p["a"], p["b"], p["log_likelihood"] or float("nan"), p["customers"]
    ), fitted


def _fit_state(*, scope_key: str, as_of: dt.date) -> bgnbd.BGNBDParams | None:
    """Fit on the scope's state rows: all of them up to ``analytics.FIT_SAMPLE`` customers, else that fixed
    sample (the parameters describe the population; see bench/README.md for the sample's accuracy)."""
    return _fit_combos(analytics.model_inputs_sampled(scope_key=scope_key), as_of)


def visit_model_fit(*, store: Store | None, as_of: dt.date, unit: str = "days") -> bgnbd.BGNBDParams | None:
    """Fit BG/NBD on the scope's visits before ``as_of`` straight from the tickets (what fit_visit_model prints)."""
    combos = analytics.visit_combos(store_id=store.pk if store else None, as_of=as_of)
    return _fit_combos(combos, as_of, unit_days=7.0 if unit == "weeks" else 1.0)


def _same_model_as_previous(*, run: SegmentRun, params: bgnbd.BGNBDParams | None) -> bool:
    """An incremental run whose parameters are the previous finished run's (the weekly refit did not
    happen): only its recomputed customers and those whose ``risk_on`` came can change their flag."""
    if run.mode != SegmentRun.Mode.INCREMENTAL:
        return False
    previous = (
        SegmentRun.objects.filter(scope_key=run.scope_key, status=SegmentRun.Status.DONE)
        .exclude(pk=run.pk)
        .order_by("-started_at", "-id")
        .values_list("model_params", flat=True)
        .first()
    )
    if previous is None:
        return False
    if params is None or not previous:
        return params is None and not previous
    # "risk_on": the previous run wrote every row's risk_on (rows from before that column have none).
    return bool(previous.get("risk_on")) and all(
        previous.get(k) == getattr(params, k) for k in ("r", "alpha", "a", "b")
    )


def _recomputed_ids(run: SegmentRun) -> list[int]:
    """The customers an incremental run's chunks recomputed (from its plan)."""
    return sorted({i for chunk in run.plan for i in (chunk.get("ids") or [])})


def _model_apply(*, run: SegmentRun, params: bgnbd.BGNBDParams | None, policy: rules.Policy) -> list[tuple]:
    """The at-risk flag and ``risk_on`` for every state row of the scope (the ORM path of
    ``analytics.model_apply_sql``); writes the rows that changed."""
    changes: list[tuple] = []
    fields = ("customer_id", "visits", "first_visit", "last_visit", "status", "is_at_risk", "risk_on")
    end = run.as_of - dt.timedelta(days=1)
    threshold = float(policy.at_risk_threshold)
    for rows in analytics.iter_state_chunks(scope_key=run.scope_key, fields=fields):
        pk, customer, visits, first, last, status, old_risk, old_on = zip(*rows, strict=True)
        visits = np.array(visits, dtype=float)
        eligible = (visits >= policy.lapse_min_visits) & (np.array(status) != rules.LOST)
        if params is None:
            p = np.full(len(rows), np.nan)
            days = None
        else:
            first_o = np.array([d.toordinal() for d in first], dtype=float)
            last_o = np.array([d.toordinal() for d in last], dtype=float)
            p = np.round(bgnbd.p_alive(params, visits - 1, last_o - first_o, end.toordinal() - first_o), 2)
            days = bgnbd.risk_days(params, threshold, np.maximum(visits - 1, 1), last_o - first_o)
        risk = rules.at_risk_mask(visits, status, p, policy)
        updates = []
        for i in range(len(rows)):
            on = first[i] + dt.timedelta(days=int(days[i])) if days is not None and eligible[i] else None
            if bool(risk[i]) != old_risk[i] or on != old_on[i]:
                updates.append((pk[i], bool(risk[i]), on))
                changes += _flag_moves(run, customer[i], at_risk=(old_risk[i], bool(risk[i])))
        analytics.rows_update(model=CustomerSegmentState, rows=updates, fields=("is_at_risk", "risk_on"))
    return changes
