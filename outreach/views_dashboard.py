"""Manager dashboard and owner exports. Thin: check access, validate the filter, call the reads."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from babel.dates import get_day_names
from django import forms
from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from customers import locales
from customers.access import SESSION_STORE_KEY, access_for, role_required, stores_for
from customers.models import Role, Store

from . import analytics_dashboard, dashboard_segments, exports, kpis
from .models import ExportJob

MAX_PERIOD_DAYS = 3 * 366
PRESETS = [
    (30, gettext_lazy("Last 30 days")),
    (90, gettext_lazy("Last 90 days")),
    (365, gettext_lazy("Last 12 months")),
]


class DashboardFilterForm(forms.Form):
    store = forms.ChoiceField(label=gettext_lazy("Store"), required=False)
    start = forms.DateField(label=gettext_lazy("From"), widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=gettext_lazy("To"), widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, stores: list[Store], **kwargs):
        super().__init__(*args, **kwargs)
        self.stores = stores
        self.fields["store"].choices = [("", _("All my stores"))] + [(s.code, s.name) for s in stores]

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                self.add_error("end", _("The end date is before the start date."))
            elif (end - start).days >= MAX_PERIOD_DAYS:
                self.add_error("start", _("Choose a period of at most three years."))
        return data


@dataclass(frozen=True)
class DashboardFilter:
    stores: list[Store]
    period: kpis.Period
    store_code: str


def _dashboard_filter(request: HttpRequest) -> tuple[DashboardFilterForm, DashboardFilter]:
    """The stores and period the page is about: the form's choice, else the switcher and 30 days."""
    # The stores come with their points liability (subqueries): one query fewer for the page.
    visible = list(
        stores_for(request.user)
        .only("pk", "code", "name", "currency", "margin", "locale", "country", "calendar", "time_zone")
        .annotate(**kpis.points_liability_annotations())
    )
    today = timezone.localdate()
    # The store switcher's choice is the default (read from the session: no extra query).
    switched = request.session.get(SESSION_STORE_KEY, "")
    default_code = switched if any(s.code == switched for s in visible) else ""
    if len(visible) == 1:
        default_code = visible[0].code
    initial = {"store": default_code, "start": today - dt.timedelta(days=29), "end": today}
    data = request.GET.copy() if request.GET else None
    if data is not None:
        for key, value in initial.items():
            data.setdefault(key, value.isoformat() if isinstance(value, dt.date) else value)
    form = DashboardFilterForm(data, initial=initial, stores=visible)
    values = form.cleaned_data if form.is_bound and form.is_valid() else initial
    code = values.get("store") or ""
    chosen = [s for s in visible if s.code == code] if code else visible
    return form, DashboardFilter(stores=chosen, period=kpis.Period(values["start"], values["end"]), store_code=code)


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
    """Tiles fed by segmentation and outreach: each is None until its tables exist.

    Seams: ``segments`` (the scope's latest run: ladder funnel with movement, segment sizes over
    time, ABC-XYZ, RFM — ``outreach.dashboard_segments``, one query), ``segments_missing`` (why there
    is none), ``notes_pipeline`` (per staff member) and ``campaigns`` (contacted vs holdout, lift).
    The templates under ``outreach/dashboard/slots/`` render nothing for a None.
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
        "notes_pipeline": None,
        "campaigns": None,
    }


def _heat_class(percent) -> str:
    if percent is None:
        return "heat-none"
    return f"heat-{min(10, int(percent // 10))}"


@role_required(Role.MANAGER)
def dashboard(request: HttpRequest) -> HttpResponse:
    """The manager's morning page: KPI cards, then charts, each with its table one click away."""
    form, flt = _dashboard_filter(request)
    store_ids = [s.pk for s in flt.stores]
    period = flt.period
    current_inputs, previous_inputs = kpis.kpi_inputs(
        store_ids=store_ids, period=period, points=kpis.points_liability_of(flt.stores)
    )
    current, previous = kpis.kpis_compute(current_inputs), kpis.kpis_compute(previous_inputs)
    cards = []
    for card in kpis.kpi_cards(current, previous):
        title, text = _card_text(card, current)
        cards.append({"card": card, "title": title, "text": text})
    # The week starts where the stores' locale starts it (Monday when the stores disagree).
    first_days = {locales.first_weekday(s) for s in flt.stores}
    first_weekday = first_days.pop() if len(first_days) == 1 else 0
    weeks = analytics_dashboard.visits_by_week(
        store_ids=store_ids, start=period.start, end=period.end, first_weekday=first_weekday
    )
    # Day names in the reader's language from CLDR (Babel: 0 = Monday), Tagalog included.
    day_names = get_day_names("wide", locale=locales.babel_locale(translation.get_language() or "en"))
    cohorts = analytics_dashboard.cohort_heatmap(store_ids=store_ids, end=period.end)
    complaints = analytics_dashboard.complaints_by_reason(store_ids=store_ids, start=period.start, end=period.end)
    currencies = sorted({s.currency for s in flt.stores})
    chart_data = {
        "visits": {
            "labels": [w.week.isoformat() for w in weeks],
            "visits": [w.visits for w in weeks],
            "new": [w.new_customers for w in weeks],
            "label_visits": _("Visits"),
            "label_new": _("New customers"),
        },
        "complaints": (
            {
                "labels": [m.strftime("%Y-%m") for m in complaints["months"]],
                "series": [{"label": r["label"], "data": r["counts"]} for r in complaints["reasons"]],
            }
            if complaints
            else None
        ),
    }
    scope_key = dashboard_segments.scope_key_for_dashboard(
        store_ids=store_ids, store_code=flt.store_code, chain_wide=access_for(request.user).chain_wide
    )
    slots = segment_slots(scope_key=scope_key, period=period)
    if slots["segments_charts"]:
        chart_data.update(slots["segments_charts"])
    cohort_rows = [
        {
            "cohort": row.cohort,
            "size": row.size,
            "cells": [{"n": n, "pct": pct, "css": _heat_class(pct)} for n, pct in row.cells],
        }
        for row in cohorts
    ]
    return render(
        request,
        "outreach/dashboard/index.html",
        {
            "form": form,
            "flt": flt,
            "period": period,
            "previous": period.previous(),
            "cards": cards,
            "ltv_method": _ltv_method(current),
            "currency": currencies[0] if len(currencies) == 1 else "",
            # One currency: money is written as the (first) store writes it; mixed currencies stay bare numbers.
            "money_store": flt.stores[0] if len(currencies) == 1 else None,
            "weeks": weeks,
            "week_first_day": day_names[first_weekday],
            "week_last_day": day_names[(first_weekday + 6) % 7],
            "cohort_rows": cohort_rows,
            "cohort_offsets": list(range(12)),
            "complaints": complaints,
            "chart_data": chart_data,
            "slots": slots,
            "presets": [
                {"label": label, "start": period.end - dt.timedelta(days=days - 1), "end": period.end}
                for days, label in PRESETS
            ],
        },
    )


# --- Owner exports ----------------------------------------------------------------------------------


class ExportForm(forms.Form):
    segment = forms.ChoiceField(label=gettext_lazy("Customers"), choices=exports.SEGMENT_CHOICES, initial="best")
    top = forms.IntegerField(
        label=gettext_lazy("How many"),
        min_value=1,
        max_value=exports.XLSX_MAX_ROWS,
        required=False,
        initial=50,
        help_text=gettext_lazy("Leave empty for everyone in the list."),
    )
    store = forms.ChoiceField(label=gettext_lazy("Store"), required=False)
    as_of = forms.DateField(label=gettext_lazy("As of"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    format = forms.ChoiceField(label=gettext_lazy("Format"), choices=exports.FORMAT_CHOICES, initial="xlsx")

    def __init__(self, *args, stores: list[Store], **kwargs):
        super().__init__(*args, **kwargs)
        self.stores = stores
        self.fields["store"].choices = [("", _("All stores"))] + [(s.code, s.name) for s in stores]

    def to_request(self, *, today: dt.date) -> exports.ExportRequest:
        data = self.cleaned_data
        code = data.get("store") or ""
        chosen = [s for s in self.stores if s.code == code] if code else self.stores
        return exports.ExportRequest(
            segment=data["segment"],
            top=data.get("top"),
            store_ids=tuple(s.pk for s in chosen),
            store_codes=tuple(s.code for s in chosen) if code else (),
            as_of=data.get("as_of") or today,
        )


def _export_form(request: HttpRequest, data=None) -> ExportForm:
    return ExportForm(data, stores=list(stores_for(request.user).only("pk", "code", "name")))


@role_required(Role.OWNER)
def export_index(request: HttpRequest) -> HttpResponse:
    """Pick a list and a format; CSV and PDF download at once, XLSX is built in the background."""
    form = _export_form(request)
    jobs = ExportJob.objects.filter(requested_by=request.user)[:10]
    return render(request, "outreach/exports/index.html", {"form": form, "jobs": jobs})


@role_required(Role.OWNER)
def export_download(request: HttpRequest) -> HttpResponse:
    """CSV (streamed, constant memory) or PDF of a customer list, audited."""
    form = _export_form(request, request.GET or {"segment": "best", "top": 50, "format": "csv"})
    if not form.is_valid():
        return render(request, "outreach/exports/index.html", {"form": form, "jobs": []}, status=400)
    req = form.to_request(today=timezone.localdate())
    fmt = form.cleaned_data["format"]
    name = exports.export_filename(req, fmt)
    if fmt == "xlsx":
        return redirect(f"{reverse('dashboard:exports')}?{request.GET.urlencode()}")
    if fmt == "csv":
        rows = exports.export_rows_count(request=req)
        exports.export_audit(actor=request.user, request=req, fmt=fmt, rows=rows)
        response = StreamingHttpResponse(exports.csv_stream(request=req), content_type="text/csv; charset=utf-8")
    else:
        pdf, rows = exports.pdf_render(request=req)
        exports.export_audit(actor=request.user, request=req, fmt=fmt, rows=rows)
        response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_POST
@role_required(Role.OWNER)
def export_start(request: HttpRequest) -> HttpResponse:
    """Queue an XLSX export and go to its progress page."""
    form = _export_form(request, request.POST)
    if not form.is_valid():
        jobs = ExportJob.objects.filter(requested_by=request.user)[:10]
        return render(request, "outreach/exports/index.html", {"form": form, "jobs": jobs}, status=400)
    if form.cleaned_data["format"] != "xlsx":
        return redirect(f"{reverse('dashboard:export_download')}?{request.POST.urlencode()}")
    job = exports.export_job_start(by=request.user, request=form.to_request(today=timezone.localdate()))
    messages.info(request, _("Your export is being built. This page shows its progress; the link appears when done."))
    return redirect("dashboard:export_job", pk=job.pk)


def _job_get(request: HttpRequest, pk: int) -> ExportJob:
    return exports.export_job_get(user=request.user, pk=pk)


@role_required(Role.OWNER)
def export_job(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "outreach/exports/job.html", {"job": _job_get(request, pk)})


@role_required(Role.OWNER)
def export_job_status(request: HttpRequest, pk: int) -> JsonResponse:
    """What the progress bar polls."""
    job = _job_get(request, pk)
    return JsonResponse(
        {
            "status": job.status,
            "status_label": job.get_status_display(),
            "rows_done": job.rows_done,
            "rows_total": job.rows_total,
            "percent": job.percent,
            "message": job.message,
            "download": reverse("dashboard:export_job_file", args=[job.pk]) if job.status == job.Status.DONE else "",
        }
    )


@role_required(Role.OWNER)
def export_job_file(request: HttpRequest, pk: int) -> FileResponse:
    job = _job_get(request, pk)
    if job.status != ExportJob.Status.DONE or not job.file:
        raise Http404
    path = exports.job_path(job)
    if not path.exists():
        raise Http404
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)
