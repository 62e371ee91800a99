"""The dashboard's tiles: what they show, and a cache of their rendered HTML per data version.

Every tile reads a precomputed table (StoreDay, CustomerMonth, CohortMonth, SegmentRun, CampaignResult),
so what a tile shows changes only when a refresh writes those rows. The page's store query reads,
per store, the version of each table (``analytics_tiles.version_annotations``: the last ``refreshed_at`` of its
days and campaign results, the id of the latest finished segmentation run, the last campaign edit), and ``tiles_html``
renders the tiles once per (language, stores, period, scope, versions, store settings, points
held) and keeps the HTML in the cache: a request that finds it runs none of the tile queries and
renders none of their templates. Anything that changes a tile changes the key, so the cache is
never older than the tables (and the points liability is part of the key: it is live).

Two tiles are read on every request instead (``live_context``): the notes pipeline, which moves
with every tick, and the complaints by reason (one small query each).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import replace

from babel.dates import get_day_names
from django.core.cache import cache
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from customers import locales

from . import analytics_dashboard, dashboard_segments, kpis, results

TILES_CACHE_SECONDS = 6 * 60 * 60
# The body's key moves every minute (``body_cache_key``); an entry is read for at most one minute more, by
# ``body_cached`` while another request renders the next minute's body.
BODY_CACHE_SECONDS = 3 * 60
BODY_RENDER_LOCK_SECONDS = 30


def _tiles_parts(*, flt, scope_key: str | None) -> tuple | None:
    """What the cached tiles depend on, or None when there is nothing to cache."""
    stores = flt.stores
    if not any(getattr(s, "days_version", None) for s in stores):
        return None  # no dashboard tables yet: nothing heavy to keep
    if scope_key == "chain":
        run = stores[0].chain_run_version
    elif scope_key:
        run = next((s.run_version for s in stores if f"store:{s.pk}" == scope_key), None)
    else:
        run = None
    return (
        translation.get_language(),
        scope_key,
        flt.store_code,
        flt.period.start,
        flt.period.end,
        run,
        stores[0].campaigns_version,
        tuple(
            (
                s.pk,
                s.currency,
                s.locale,
                s.country,
                s.calendar,
                str(s.margin),
                s.days_version,
                s.results_version,
                s.points_held,
                s.points_shown,
                str(s.points_value),
            )
            for s in stores
        ),
    )


def tiles_cache_key(*, flt, scope_key: str | None) -> str | None:
    """The cache key of the tiles for these stores and period, or None when there is nothing to cache."""
    parts = _tiles_parts(flt=flt, scope_key=scope_key)
    return None if parts is None else "dashboard:tiles:v1:" + hashlib.sha256(repr(parts).encode()).hexdigest()


def body_cache_key(*, flt, scope_key: str | None, visible: list, user_role: str, now: dt.datetime) -> str | None:
    """The cache key of the page's whole body (filter form, tiles, notes pipeline, complaints), or None.

    The tiles' key, plus what the rest of the body shows: the live tiles' version of each store
    (``outreach.live_versions``: bumped by every note and complaint write), the stores the form
    offers (the user's own: two users see the same body only if they may see the same stores), the
    reader's role and time zone, and the minute — the pipeline's "overdue" count moves with the
    clock, and a writer's new name shows within a minute. Nothing per user (navigation, CSRF
    token, messages) is in the body: the page around it is rendered on every request.
    """
    parts = _tiles_parts(flt=flt, scope_key=scope_key)
    if parts is None:
        return None
    live = (
        tuple((s.pk, s.live_version) for s in flt.stores),
        tuple((s.pk, s.code, s.name) for s in visible),
        user_role,
        timezone.get_current_timezone_name(),
        int(now.timestamp()) // 60,
    )
    return "dashboard:body:v1:" + hashlib.sha256(repr((parts, live)).encode()).hexdigest()


def body_cached(*, key: str, previous_key: Callable[[], str | None]) -> str | None:
    """The body under ``key``, or None: then the caller renders it and calls ``body_keep``.

    At the turn of each minute every request misses at once (the key holds the minute); rendering the
    body then takes tens of milliseconds of queries and template, and twenty requests doing it together on
    two cores made the page's tail. One request renders it (the first to ``cache.add`` the render mark);
    the others meanwhile show the previous minute's body — the same data versions (they are in both keys:
    after a note or complaint write neither key is there, so nothing older than the data is shown), only
    the pipeline's "overdue" a minute older.
    """
    body = cache.get(key)
    if body is None and not cache.add(key + ":rendering", 1, BODY_RENDER_LOCK_SECONDS):
        previous = previous_key()
        body = cache.get(previous) if previous else None
    return body


def body_keep(*, key: str, body: str) -> None:
    cache.set(key, body, BODY_CACHE_SECONDS)
    cache.delete(key + ":rendering")


def tiles_html(*, request: HttpRequest, flt, scope_key: str | None) -> SafeString:
    """The rendered tiles, from the cache when their tables have not changed since."""
    key = tiles_cache_key(flt=flt, scope_key=scope_key)
    html = cache.get(key) if key else None
    if html is None:
        html = render_to_string(
            "outreach/dashboard/_tiles.html", tiles_context(flt=flt, scope_key=scope_key), request=request
        )
        if key:
            cache.set(key, html, TILES_CACHE_SECONDS)
    return mark_safe(html)  # nosec B308 B703 - the output of our own autoescaping template, from our cache


def _card_text(card: kpis.KpiCard, current: kpis.Kpis) -> tuple[str, str]:
    """The card's title and its explanation in plain words."""
    i = current.inputs
    texts = {
        "active": (_("Active customers"), _("Bought at least once in the 90 days up to the last day.")),
        "new": (_("New customers"), _("Made their first purchase here in this period.")),
        "returning": (_("Returning customers"), _("Came in this period and had bought here before.")),
        "crr": (
            _("Retention (CRR)"),
            _("Still active at the end: %(kept)s of the %(s)s customers active at the start (new ones not counted).")
            % {"s": i.active_start, "kept": i.active_end - i.new},
        ),
        "average_ticket": (_("Average ticket"), _("The average amount of one sale.")),
        "visits_per_month": (_("Visits per customer per month"), _("How often a customer who came, came each month.")),
        "ltv": (_("Lifetime value (LTV)"), _("The margin one customer brings over their time with you.")),
        "points_liability": (_("Points liability"), _("Points customers hold and can still redeem.")),
    }
    return texts[card.key]


def _ltv_method(current: kpis.Kpis) -> str:
    h = {k: v for k, v in (("S", current.average_ticket), ("C", current.visits_per_customer_month)) if v is not None}
    if current.ltv is None:
        return _("Not enough data yet: LTV needs sales in the period and customers active at its start.")
    lifetime = (
        _("T is measured from the last 12 months' retention (CRR), as a monthly rate r; T = 1 / (1 − r).")
        if current.lifetime_method == "year"
        else _("T is measured from this period's retention (less than a year of history), as a monthly rate r.")
    )
    return _(
        "LTV = S × C × P × T = %(S)s average ticket × %(C)s visits per month × %(P)s margin × %(T)s months. %(how)s"
    ) % {
        "S": kpis.q(h.get("S")),
        "C": kpis.q(h.get("C")),
        "P": kpis.q(current.margin, "0.001"),
        "T": kpis.q(current.lifetime_months, "0.1"),
        "how": lifetime,
    }


def segment_slots(*, scope_key: str | None, period: kpis.Period) -> dict:
    """Tiles fed by segmentation: None until its tables exist.

    ``segments`` (the scope's latest run: ladder funnel with movement, segment sizes over
    time, ABC-XYZ, RFM — ``outreach.dashboard_segments``, one query), ``segments_missing`` (why there
    is none). The outreach tiles are ``campaigns_slot`` and ``live_context``. The templates under
    ``outreach/dashboard/slots/`` render nothing for a None.
    """
    tiles = dashboard_segments.segment_tiles(scope_key=scope_key, until=period.end) if scope_key else None
    if scope_key is None:
        missing = _("Choose one store to see its customer ladder and segments.")
    elif tiles is None:
        missing = _("No segmentation run yet — a manager can run it from the Segments page.")
    else:
        missing = ""
    return {
        "segments": tiles,
        "segments_missing": missing,
        "segments_charts": dashboard_segments.chart_data(tiles) if tiles else None,
    }


def _heat_class(percent) -> str:
    if percent is None:
        return "heat-none"
    return f"heat-{min(10, int(percent // 10))}"


def campaigns_slot(*, store_ids: list[int]) -> dict | None:
    """Campaign results summed over the stores (one query on CampaignResult); None without any."""
    rows = results.campaign_results_rows(store_ids=store_ids)
    return {"rows": rows, "window_days": results.RETURN_WINDOW_DAYS} if rows else None


def tiles_context(*, flt, scope_key: str | None) -> dict:
    """Everything the cached tiles show (the tile queries: StoreDay, CustomerMonth if not cached,
    CohortMonth, SegmentRun, CampaignResult)."""
    store_ids = [s.pk for s in flt.stores]
    period = flt.period
    # The week starts where the stores' locale starts it (Monday when the stores disagree).
    first_days = {locales.first_weekday(s) for s in flt.stores}
    first_weekday = first_days.pop() if len(first_days) == 1 else 0
    current_inputs, previous_inputs, weeks = kpis.kpi_reads(
        store_ids=store_ids,
        period=period,
        points=kpis.points_liability_of(flt.stores),
        margins=[s.margin for s in flt.stores],
        first_weekday=first_weekday,
    )
    # Day names in the reader's language from CLDR (Babel: 0 = Monday), Tagalog included.
    day_names = get_day_names("wide", locale=locales.babel_locale(translation.get_language() or "en"))
    current, previous = kpis.kpis_compute(current_inputs), kpis.kpis_compute(previous_inputs)
    cards = []
    for card in kpis.kpi_cards(current, previous):
        title, text = _card_text(card, current)
        cards.append({"card": card, "title": title, "text": text})
    cohorts = analytics_dashboard.cohort_heatmap(store_ids=store_ids, end=period.end)
    currencies = sorted({s.currency for s in flt.stores})
    slots = segment_slots(scope_key=scope_key, period=period)
    slots["campaigns"] = campaigns_slot(store_ids=store_ids)
    chart_data = {
        "visits": {
            "labels": [w.week.isoformat() for w in weeks],
            "visits": [w.visits for w in weeks],
            "new": [w.new_customers for w in weeks],
            "label_visits": _("Visits"),
            "label_new": _("New customers"),
        },
    }
    if slots["segments_charts"]:
        chart_data.update(slots["segments_charts"])
    if slots["campaigns"]:
        rows = slots["campaigns"]["rows"]
        chart_data["campaigns"] = {
            "labels": [r.name for r in rows],
            "contacted": [r.contacted_pct for r in rows],
            "holdout": [r.holdout_pct for r in rows],
            "label_contacted": _("Contacted"),
            "label_holdout": _("Held out"),
        }
    return {
        "cards": cards,
        "ltv_method": _ltv_method(current),
        "currency": currencies[0] if len(currencies) == 1 else "",
        # One currency: money is written as the (first) store writes it; mixed currencies stay bare numbers.
        "money_store": flt.stores[0] if len(currencies) == 1 else None,
        "weeks": weeks,
        "week_first_day": day_names[first_weekday],
        "week_last_day": day_names[(first_weekday + 6) % 7],
        "cohort_rows": [
            {
                "cohort": row.cohort,
                "size": row.size,
                "cells": [{"n": n, "pct": pct, "css": _heat_class(pct)} for n, pct in row.cells],
            }
            for row in cohorts
        ],
        "cohort_offsets": list(range(12)),
        "chart_data": chart_data,
        "slots": slots,
    }


# --- Read on every request ------------------------------------------------------------------------


def _local_bounds(period: kpis.Period) -> tuple[dt.datetime, dt.datetime]:
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(period.start, dt.time.min, tzinfo=tz)
    return start, dt.datetime.combine(period.end + dt.timedelta(days=1), dt.time.min, tzinfo=tz)


def live_context(*, store_ids: list[int], period: kpis.Period, now: dt.datetime) -> dict:
    """The notes pipeline per staff member and the complaints by reason (one query each)."""
    start, end = _local_bounds(period)
    pipeline = [
        row if row.name else replace(row, name=_("Email") if row.email_only else _("Nobody yet"))
        for row in results.notes_pipeline(store_ids=store_ids, start=start, end=end, now=now)
    ]
    complaints = analytics_dashboard.complaints_by_reason(store_ids=store_ids, start=period.start, end=period.end)
    data = {}
    if complaints:
        data["complaints"] = {
            "labels": [m.strftime("%Y-%m") for m in complaints["months"]],
            "series": [{"label": r["label"], "data": r["counts"]} for r in complaints["reasons"]],
        }
    if pipeline:
        data["pipeline"] = {
            "labels": [r.name for r in pipeline],
            "series": [
                {"label": label, "data": [getattr(r, key) for r in pipeline]}
                for key, label in (
                    ("queued", _("To write")),
                    ("written", _("Written")),
                    ("posted", _("Posted")),
                    ("emailed", _("Emailed")),
                )
            ],
        }
    return {
        "complaints": complaints,
        "notes_pipeline": {"rows": pipeline, "due_days": results.NOTE_DUE_DAYS} if pipeline else None,
        "live_chart_data": data,
    }
