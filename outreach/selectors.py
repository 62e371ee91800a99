"""Reads for segmentation screens and commands, scoped to what the user may see."""

import datetime as dt
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from customers.access import access_for, stores_for
from customers.models import Customer, Store

from . import analytics, rules
from .models import CHAIN, CustomerSegmentState, SegmentRun, scope_key_for

SEGMENT_LABELS = {
    "best": gettext_lazy("Best customers"),
    "lapsed": gettext_lazy("Lapsed regulars"),
    "lost": gettext_lazy("Lost"),
    "new": gettext_lazy("New"),
    "one_timer": gettext_lazy("One-timers"),
    "at_risk": gettext_lazy("At risk"),
    "buyer": gettext_lazy("Buyers"),
    "repeat": gettext_lazy("Repeat clients"),
    "regular": pgettext_lazy("segment: regular customers", "Regulars"),
    "adherent": gettext_lazy("Adherents"),
    "advocate": gettext_lazy("Advocates"),
}


def segment_label(name: str) -> str:
    return str(SEGMENT_LABELS[name])


def latest_run(*, store: Store | None) -> SegmentRun | None:
    """The scope's newest finished run (None before the first)."""
    return (
        SegmentRun.objects.filter(scope_key=scope_key_for(store), status=SegmentRun.Status.DONE)
        .order_by("-started_at", "-id")
        .first()
    )


def current_run(*, store: Store | None) -> SegmentRun | None:
    """The scope's newest run of any status (what the progress bar follows)."""
    return SegmentRun.objects.filter(scope_key=scope_key_for(store)).order_by("-started_at", "-id").first()


def segment_members(*, store: Store | None, name: str, limit: int | None = None) -> list[CustomerSegmentState]:
    """Members of one segment in the scope, most visits first (best: by rank)."""
    if name not in rules.SEGMENT_NAMES:
        raise ValueError(name)
    scope_key = scope_key_for(store)
    qs: QuerySet = (
        CustomerSegmentState.objects.filter(scope_key=scope_key)
        .select_related("customer")
        .annotate(p_alive=analytics.p_alive_expression(scope_key=scope_key))
    )
    if name == "best":
        qs = qs.filter(is_best=True).order_by("best_rank")
    elif name == "at_risk":
        qs = qs.filter(is_at_risk=True).order_by("p_alive", "customer_id")
    elif name in rules.LADDER:
        qs = qs.filter(ladder=name).order_by("-visits", "-last_visit", "customer_id")
    else:
        qs = qs.filter(status=name).order_by("-visits", "-last_visit", "customer_id")
    return list(qs[:limit] if limit else qs)


def scope_for_user(*, user, stores) -> Store | None:
    """The scope a screen shows: the chain for an owner looking at every store, else the first chosen store."""
    access = access_for(user)
    stores = list(stores)
    if access.chain_wide and len(stores) == stores_for(user).count():
        return None
    return stores[0] if stores else None


@dataclass(frozen=True)
class Badge:
    """A segment badge for the customer page: a label and the reason in words."""

    name: str
    label: str
    explanation: str


def segment_badges(customer: Customer, *, as_of: dt.date | None = None, scope_key: str = CHAIN) -> list[Badge]:
    """The customer's segments with why ("lapsed regular — usually every 2 weeks, 9 weeks since")."""
    state = CustomerSegmentState.objects.filter(scope_key=scope_key, customer=customer).first()
    if state is None:
        return []
    model_params, run_as_of = analytics.scope_model(scope_key)
    if as_of is None:
        as_of = run_as_of or state.last_visit + dt.timedelta(days=1)
    since = (as_of - state.last_visit).days
    gap = state.median_gap_days
    badges = []
    if state.is_best:
        badges.append(
            Badge(
                "best",
                _("best customer"),
                _("#%(rank)d by visits: %(n)d visits in the last year")
                % {
                    "rank": state.best_rank or 0,
                    "n": state.window_visits,
                },
            )
        )
    if state.status == rules.LAPSED:
        badges.append(Badge("lapsed", _("lapsed regular"), rules.explain_lapsed(median_gap_days=gap, days_since=since)))
    elif state.status == rules.LOST:
        badges.append(
            Badge("lost", _("lost"), _("%(since)s since the last visit") % {"since": rules.humanize_days(since)})
        )
    elif state.status == rules.NEW:
        badges.append(
            Badge(
                "new",
                _("new"),
                _("first visit %(since)s ago") % {"since": rules.humanize_days((as_of - state.first_visit).days)},
            )
        )
    elif state.status == rules.ONE_TIMER:
        badges.append(
            Badge("one_timer", _("one-timer"), _("one visit, %(since)s ago") % {"since": rules.humanize_days(since)})
        )
    p_alive = None
    if state.is_at_risk and run_as_of is not None:
        p_alive, _expected = analytics.visit_model_figures(
            visits=state.visits,
            first_visit=state.first_visit,
            last_visit=state.last_visit,
            model_params=model_params,
            as_of=run_as_of,
        )
    if p_alive is not None:
        badges.append(
            Badge(
                "at_risk",
                _("at risk"),
                rules.explain_at_risk(median_gap_days=gap, days_since=since, p_alive=p_alive),
            )
        )
    ladder_reason = {
        rules.BUYER: _("one visit"),
        rules.REPEAT: _("%(n)d visits") % {"n": state.visits},
        rules.REGULAR: _("%(n)d visits, usually every %(gap)s")
        % {
            "n": state.visits,
            "gap": rules.humanize_days(gap or 0),
        },
        rules.ADHERENT: _("a visit in each of the last 4 quarters"),
        rules.ADVOCATE: _("referred %(n)d customer(s) who bought") % {"n": state.referred_buyers},
    }[state.ladder]
    badges.append(Badge(state.ladder, segment_label(state.ladder).lower(), ladder_reason))
    return badges
