"""Segment screens for managers: sizes with a Refresh button and progress bar, member lists, run status."""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from customers.access import role_required, stores_in_scope
from customers.models import Role

from . import rules, selectors
from .tasks import segments_refresh_task

SEGMENT_HELP = {
    "best": gettext_lazy("Top customers by visits in the last year (money never ranks)."),
    "lapsed": gettext_lazy("3+ visits and away longer than 3 × their usual gap (at least 30 days)."),
    "lost": gettext_lazy("No visit for more than two years."),
    "new": gettext_lazy("First visit in the last 30 days."),
    "one_timer": gettext_lazy("One visit, more than 30 days ago."),
    "at_risk": gettext_lazy("3+ visits and less than 50 % likely to still be active (visit model)."),
    "buyer": gettext_lazy("One visit."),
    "repeat": gettext_lazy("Two or more visits (regulars who lapsed count here too)."),
    "regular": gettext_lazy("Three or more visits and not lapsed."),
    "adherent": gettext_lazy("Regulars with a visit in each of the last 4 quarters."),
    "advocate": gettext_lazy("Regulars who referred a customer who bought."),
}


def _scope(request: HttpRequest):
    return selectors.scope_for_user(user=request.user, stores=stores_in_scope(request))


@role_required(Role.MANAGER)
def segment_overview(request: HttpRequest) -> HttpResponse:
    """Segment sizes of the chosen scope, the last run, and the Refresh button."""
    store = _scope(request)
    run = selectors.latest_run(store=store)
    counts = run.counts if run else {}
    rows = [
        {"name": n, "label": selectors.segment_label(n), "help": SEGMENT_HELP[n], "count": counts.get(n, 0)}
        for n in rules.SEGMENT_NAMES
    ]
    return render(
        request,
        "outreach/segment_overview.html",
        {
            "store": store,
            "run": run,
            "current": selectors.current_run(store=store),
            "rows": rows,
            "after": request.GET.get("after", "") if request.GET.get("after", "").isdigit() else "",
        },
    )


@role_required(Role.MANAGER)
def segment_members(request: HttpRequest, name: str) -> HttpResponse:
    if name not in rules.SEGMENT_NAMES:
        raise Http404
    store = _scope(request)
    members = selectors.segment_members(store=store, name=name, limit=500)
    return render(
        request,
        "outreach/segment_members.html",
        {
            "store": store,
            "name": name,
            "label": selectors.segment_label(name),
            "help": SEGMENT_HELP[name],
            "members": members,
        },
    )


@require_POST
@role_required(Role.MANAGER)
def segment_refresh(request: HttpRequest) -> HttpResponse:
    """Queue a refresh of the scope after commit; the page polls segment_status for progress."""
    store = _scope(request)
    before = selectors.current_run(store=store)
    segments_refresh_task.delay_on_commit(store.pk if store else None, None, False, request.user.pk)
    messages.info(request, _("Segments are being refreshed. The bar below shows the progress."))
    return redirect(f"{reverse('outreach:segments')}?after={before.pk if before else 0}")


@role_required(Role.MANAGER)
def segment_status(request: HttpRequest) -> JsonResponse:
    """The scope's newest run as JSON: status, progress and counts (polled by static/js/segments.js)."""
    run = selectors.current_run(store=_scope(request))
    if run is None:
        return JsonResponse({"status": "none", "percent": 0})
    return JsonResponse(
        {
            "id": run.pk,
            "status": run.status,
            "percent": run.percent,
            "done": run.progress_done,
            "total": run.progress_total,
            "as_of": run.as_of.isoformat(),
            "counts": run.counts if run.status == "done" else {},
        }
    )
