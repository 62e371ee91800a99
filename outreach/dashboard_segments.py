"""The dashboard's segmentation tiles: the ladder funnel with its movement, segment sizes over time,
the ABC-XYZ matrix and the RFM grid — all from the scope's recent ``SegmentRun`` rows.

One query per page, whatever the number of customers: each run keeps its counts, its ABC-XYZ and RFM
grids (``counts``) and its ladder moves (``ladder_moves``), written when the run finishes. The page
never groups the state table or the change history on a request.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils.translation import gettext as _

from . import rules
from .models import SegmentRun
from .selectors import segment_label

SERIES_WEEKS = 12
MAX_RUNS = 120  # nightly runs over 12 weeks, plus a few by hand
LADDER_RANK = {"": -1, **{name: i for i, name in enumerate(rules.LADDER)}}
SIZE_SERIES = ("new", "active", "one_timer", "lapsed", "lost", "at_risk", "best")
ABC = ("A", "B", "C")
XYZ = ("X", "Y", "Z")
SCORES = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Rung:
    name: str
    label: str
    customers: int
    share: float | None  # of everyone on the ladder, in %
    up_in: int  # arrived from a lower rung (or new to the ladder)
    down_in: int  # arrived from a higher rung
    out: int  # left for another rung

    @property
    def net(self) -> int:
        return self.up_in + self.down_in - self.out


@dataclass(frozen=True)
class SegmentTiles:
    """What the segmentation tiles show for one scope, as of its latest run up to the period's end."""

    run_id: int
    as_of: dt.date
    previous_as_of: dt.date | None
    rungs: list[Rung]
    moved_up: int  # customers who climbed at least one rung (not counting newcomers)
    moved_down: int
    joined: int  # customers new to the ladder (their first visit in the scope)
    sizes: list[dict]  # one point per week: {"as_of": date, "counts": {name: n}}
    abc_xyz: list[dict] | None  # rows A, B, C of cells X, Y, Z; None for runs older than the grids
    rfm: list[dict] | None  # rows R 5…1 of cells F 1…5


def scope_key_for_dashboard(*, store_ids: list[int], store_code: str, chain_wide: bool) -> str | None:
    """``store:<id>`` for one chosen store, ``chain`` for an owner's all-stores view, else None.

    A manager of several stores looking at all of them has no segmentation of their own (the chain's
    would count stores they do not manage): the page asks them to pick a store.
    """
    if store_code and len(store_ids) == 1:
        return f"store:{store_ids[0]}"
    if chain_wide:
        return "chain"
    return None


def _heat(n: int, top: int) -> str:
    return "heat-none" if not n or not top else f"heat-{min(10, int(10 * n / top))}"


def _active(counts: dict) -> int:
    gone = sum(counts.get(k, 0) for k in ("new", "one_timer", "lapsed", "lost"))
    return max(0, counts.get("customers", 0) - gone)


def _weekly(runs: list[dict]) -> list[dict]:
    """The last run of each week (Monday to Sunday), oldest first."""
    by_week: dict[dt.date, dict] = {}
    for run in runs:  # newest first: the first seen in a week is its last run
        week = run["as_of"] - dt.timedelta(days=run["as_of"].weekday())
        by_week.setdefault(week, run)
    out = []
    for _week, run in sorted(by_week.items()):
        counts = run["counts"] or {}
        sizes = {name: counts.get(name, 0) for name in SIZE_SERIES if name != "active"}
        sizes["active"] = _active(counts)
        out.append({"as_of": run["as_of"], "counts": sizes})
    return out


def _rungs(counts: dict, moves: dict[str, int]) -> tuple[list[Rung], int, int, int]:
    up_in = dict.fromkeys(rules.LADDER, 0)
    down_in = dict.fromkeys(rules.LADDER, 0)
    out = dict.fromkeys(rules.LADDER, 0)
    moved_up = moved_down = joined = 0
    for key, n in moves.items():
        a, _sep, b = key.partition(">")
        if a not in LADDER_RANK or b not in LADDER_RANK:
            continue
        if b:
            (up_in if LADDER_RANK[b] > LADDER_RANK[a] else down_in)[b] += n
        if a:
            out[a] += n
        if not a:
            joined += n
        elif b and LADDER_RANK[b] > LADDER_RANK[a]:
            moved_up += n
        elif b:
            moved_down += n
    total = sum(counts.get(name, 0) for name in rules.LADDER)
    rungs = [
        Rung(
            name=name,
            label=segment_label(name),
            customers=counts.get(name, 0),
            share=round(100 * counts.get(name, 0) / total, 1) if total else None,
            up_in=up_in[name],
            down_in=down_in[name],
            out=out[name],
        )
        for name in rules.LADDER
    ]
    return rungs, moved_up, moved_down, joined


def _abc_xyz(grid: dict | None) -> list[dict] | None:
    if grid is None:
        return None
    total = sum(grid.values())
    top = max(grid.values(), default=0)
    return [
        {
            "abc": a,
            "cells": [
                {
                    "xyz": x,
                    "n": grid.get(a + x, 0),
                    "pct": round(100 * grid.get(a + x, 0) / total, 1) if total else None,
                    "css": _heat(grid.get(a + x, 0), top),
                }
                for x in XYZ
            ],
        }
        for a in ABC
    ]


def _rfm(grid: dict | None) -> list[dict] | None:
    if grid is None:
        return None
    top = max((c["n"] for c in grid.values()), default=0)
    rows = []
    for r in reversed(SCORES):
        cells = []
        for f in SCORES:
            cell = grid.get(f"{r}:{f}", {"n": 0, "m": 0})
            n = cell["n"]
            cells.append({"f": f, "n": n, "m": round(cell["m"] / n, 1) if n else None, "css": _heat(n, top)})
        rows.append({"r": r, "cells": cells})
    return rows


def segment_tiles(*, scope_key: str, until: dt.date) -> SegmentTiles | None:
    """The tiles of ``scope_key`` as of its latest finished run with ``as_of`` ≤ ``until`` + 1 (one query).

    A run's ``as_of`` counts the days before it, so the run of the morning after the period's last day
    describes the period's end. None when the scope has no finished run in the 12 weeks up to then.
    """
    last_day = until + dt.timedelta(days=1)
    runs = list(
        SegmentRun.objects.filter(
            scope_key=scope_key,
            status=SegmentRun.Status.DONE,
            as_of__lte=last_day,
            as_of__gt=last_day - dt.timedelta(weeks=SERIES_WEEKS),
        )
        .order_by("-as_of", "-started_at", "-id")
        .values("id", "as_of", "counts", "ladder_moves")[:MAX_RUNS]
    )
    if not runs:
        return None
    latest = runs[0]
    counts = latest["counts"] or {}
    rungs, moved_up, moved_down, joined = _rungs(counts, latest["ladder_moves"] or {})
    return SegmentTiles(
        run_id=latest["id"],
        as_of=latest["as_of"],
        previous_as_of=runs[1]["as_of"] if len(runs) > 1 else None,
        rungs=rungs,
        moved_up=moved_up,
        moved_down=moved_down,
        joined=joined,
        sizes=_weekly(runs),
        abc_xyz=_abc_xyz(counts.get("abc_xyz")),
        rfm=_rfm(counts.get("rfm")),
    )


def chart_data(tiles: SegmentTiles) -> dict:
    """The two charts' data for the page's json_script block."""
    return {
        "ladder": {
            "labels": [f"{r.label} · {r.customers}" for r in tiles.rungs],
            "customers": [r.customers for r in tiles.rungs],
            "label": _("Customers"),
        },
        "segment_sizes": {
            "labels": [p["as_of"].isoformat() for p in tiles.sizes],
            "series": [
                {
                    "key": name,
                    "label": _("Active") if name == "active" else segment_label(name),
                    "data": [p["counts"][name] for p in tiles.sizes],
                }
                for name in SIZE_SERIES
            ],
        },
    }
