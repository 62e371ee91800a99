"""Owner exports of customer lists: CSV (streamed), XLSX (background, write-only) and PDF.

One row source feeds every format, in two engines that a test proves give the same rows:

- PostgreSQL (``analytics_exports``): one statement reads every column of every row from
  precomputed tables (CustomerMonth, CustomerMonthStaff, the segmentation state, loyalty,
  tags) through a server-side cursor, in batches of 5,000 rows — or, for the CSV, as
  ``COPY (that statement) TO STDOUT WITH (FORMAT csv)``: PostgreSQL writes the same bytes the
  csv module would, and the client only copies them (a test compares the two on awkward values);
- the ORM (the embedded SQLite default): the list is walked with ``iterator()`` in chunks of
  ``CHUNK`` customers, each enriched with a fixed number of queries.
Either way memory does not grow with the list.

"Served most by" is the staff member who rang most of the customer's sales in the window at
the list's stores (CustomerMonthStaff: per month, so the 12 whole months of the window are
exact); a tie goes to the one with the most recent sale, then to the lower user id. For the whole
chain over the current window the dashboard refresh keeps the answer per customer
(CustomerServedMost), and the PostgreSQL engine reads it from there.

Safety:
- a text cell starting with ``=``, ``+``, ``-``, ``@``, tab, CR or LF is neutralised with a
  leading apostrophe, in CSV and in XLSX (on PostgreSQL in the query itself); in XLSX every
  text cell is also written as a string with XlsxWriter's formula/number/URL guessing off, so
  no cell is ever a formula (numbers and dates we compute stay numbers and dates);
- owners only (the views), and every export is audited with its filter and row count, never
  personal data.

Lists ("segments"):
- every segment of the segmentation (``rules.SEGMENT_NAMES``: best, lapsed, lost, new, one_timer,
  at_risk and the ladder's rungs) is read from ``CustomerSegmentState`` of the scope — one store
  (``store:<id>``) or the chain (``chain``) — as of the scope's latest run: ``best`` in the run's
  rank order (by visits, never money: DOMAIN.md), at risk by P(alive), the others by visits;
- ``all``: everyone who bought in the 12 calendar months up to the month of ``as_of``, ranked by
  visits, then tickets and spend.
``top`` keeps the first N. The figures columns (visits, tickets, spend in the window) come from the
dashboard's CustomerMonth table for each chunk, so every list shows the same 12-month figures.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from itertools import islice
from pathlib import Path
from typing import Literal, TextIO

from django.conf import settings
from django.db import connection
from django.db.models import Max, QuerySet, Sum
from django.utils.translation import gettext_lazy as _

from customers.models import Customer
from customers.spreadsheets import DANGEROUS_PREFIXES, neutralise  # noqa: F401  (re-exported)

from . import rules
from .analytics_dashboard import WINDOW_MONTHS, month_start, window_first  # noqa: F401  (WINDOW_MONTHS re-exported)
from .models import CHAIN, CustomerMonth, CustomerMonthStaff, CustomerSegmentState, ExportJob
from .selectors import SEGMENT_LABELS

log = logging.getLogger(__name__)

# "auto": PostgreSQL → "copy" for the CSV and "sql" otherwise; the embedded SQLite → "orm".
# "copy" (CSV only; the other formats read it as "sql"): PostgreSQL writes the CSV (COPY … TO STDOUT).
Engine = Literal["auto", "sql", "copy", "orm"]

CHUNK = 2000
XLSX_MAX_ROWS = 1_048_575  # Excel's 1,048,576 rows, one of them the header
PDF_MAX_ROWS = 2000

SEGMENT_CHOICES = [
    ("best", _("Best customers (most visits in the last year)")),
    *[(name, SEGMENT_LABELS[name]) for name in rules.SEGMENT_NAMES if name != "best"],
    ("all", _("Everyone who bought in the last 12 months")),
]
STATE_SEGMENTS = frozenset(rules.SEGMENT_NAMES)
FORMAT_CHOICES = [("xlsx", _("Excel (XLSX)")), ("csv", _("CSV")), ("pdf", _("PDF"))]

COLUMNS = [
    ("card", _("Card")),
    ("name", _("Name")),
    ("email", _("Email")),
    ("phone", _("Phone")),
    ("postal_address", _("Postal address")),
    ("home_store", _("Home store")),
    ("visits", _("Visits (12 months)")),
    ("tickets", _("Tickets")),
    ("last_visit", _("Last visit")),
    ("average_ticket", _("Average ticket")),
    ("total_spend", _("Total spend")),
    ("points", _("Points")),
    ("tier", _("Tier")),
    ("served_most_by", _("Served most by")),
    ("interests", _("Interests")),
]


@dataclass(frozen=True)
class ExportRequest:
    """What to export. ``store_ids`` is the scope (visits at these stores); codes are for the audit."""

    segment: str
    top: int | None
    store_ids: tuple[int, ...]
    as_of: dt.date
    store_codes: tuple[str, ...] = ()

    @property
    def window(self) -> tuple[dt.date, dt.date]:
        """First and last month (first days) of the window."""
        last = month_start(self.as_of)
        return window_first(last), last

    @property
    def scope_key(self) -> str:
        """The segmentation scope of the list: the one chosen store, else the chain.

        Several chosen stores have no segmentation of their own: a segment list refuses them.
        """
        if len(self.store_codes) == 1 and len(self.store_ids) == 1:
            return f"store:{self.store_ids[0]}"
        if self.store_codes and self.segment in STATE_SEGMENTS:
            raise ValueError("A segment list is for one store or the whole chain.")
        return CHAIN

    def details(self) -> dict:
        """The filter as the audit log and the job row keep it: codes and numbers, no personal data."""
        first, last = self.window
        return {
            "segment": self.segment,
            "scope": self.scope_key,
            "top": self.top,
            "stores": list(self.store_codes) or "all",
            "as_of": self.as_of.isoformat(),
            "window": [first.isoformat(), last.isoformat()],
        }


# --- The list -------------------------------------------------------------------------------------


def _window_months(request: ExportRequest) -> QuerySet:
    first, last = request.window
    return CustomerMonth.objects.filter(store_id__in=request.store_ids, month__gte=first, month__lte=last)


def _best(request: ExportRequest) -> QuerySet:
    return (
        _window_months(request)
        .filter(visits__gt=0)
        .values("customer_id")
        .annotate(
            visits=Sum("visits"),
            tickets=Sum("tickets"),
            spend=Sum("revenue"),
            last_visit=Max("last_day"),
        )
        .order_by("-visits", "-tickets", "-spend", "customer_id")
    )


def _members(request: ExportRequest) -> QuerySet:
    """Segment members of the request's scope (the state table), unordered."""
    name = request.segment
    qs = CustomerSegmentState.objects.filter(scope_key=request.scope_key)
    if name == "best":
        return qs.filter(is_best=True)
    if name == "at_risk":
        return qs.filter(is_at_risk=True)
    if name in rules.LADDER:
        return qs.filter(ladder=name)
    return qs.filter(status=name)


def _segment(request: ExportRequest) -> QuerySet:
    """(customer_id, last_visit) of the members, in the segment's order (as the Segments page lists them)."""
    members = _members(request)
    if request.segment == "at_risk":  # P(alive) is read against the scope's newest run, not stored
        from . import analytics  # here: it brings NumPy, which no other list needs

        members = members.annotate(p_alive=analytics.p_alive_expression(scope_key=request.scope_key))
    order = {
        "best": ("best_rank", "customer_id"),
        "at_risk": ("p_alive", "customer_id"),
    }.get(request.segment, ("-visits", "-last_visit", "customer_id"))
    return members.order_by(*order).values("customer_id", "last_visit")


def export_queryset(request: ExportRequest) -> QuerySet:
    """The list's rows in order: dicts with ``customer_id`` (and the window figures for ``all``)."""
    if request.segment in STATE_SEGMENTS:
        qs = _segment(request)
    elif request.segment == "all":
        qs = _best(request)
    else:
        raise ValueError(f"unknown list {request.segment!r}")
    return qs[: request.top] if request.top else qs


def export_rows_count(*, request: ExportRequest) -> int:
    """How many customers the list holds (one query)."""
    if request.segment in STATE_SEGMENTS:
        total = _members(request).count()
    else:
        total = _window_months(request).filter(visits__gt=0).values("customer_id").distinct().count()
    return min(total, request.top) if request.top else total


def _window_figures(request: ExportRequest, customer_ids: list[int]) -> dict[int, dict]:
    """Visits, tickets, spend and last visit day in the window for a chunk of customers (one query)."""
    rows = (
        _window_months(request)
        .filter(customer_id__in=customer_ids)
        .values("customer_id")
        .annotate(visits=Sum("visits"), tickets=Sum("tickets"), spend=Sum("revenue"), last_day=Max("last_day"))
        .order_by()
    )
    return {r["customer_id"]: r for r in rows}


def consented_contacts(customer_rows: Iterable[Customer]) -> dict[int, dict[str, str]]:
    """The contact details each customer agreed to be reached on: email, phone, postal address.

    The one place that decides which contact fields leave the building: a field is
    exported only with its channel's consent, and nothing at all for a customer who
    asked not to be contacted or was erased.
    """
    out = {}
    for c in customer_rows:
        blocked = c.do_not_contact or c.erased_at is not None
        out[c.pk] = {
            "email": c.email if c.consent_email and not blocked else "",
            "phone": c.phone if c.consent_sms and not blocked else "",
            "postal_address": c.postal_address if c.consent_post and not blocked else "",
        }
    return out


def customer_interests(customer_ids: list[int]) -> dict[int, str]:
    """Interests (the customer file's tags), joined with commas; empty before tags exist."""
    try:
        through = Customer._meta.get_field("tags").remote_field.through
    except Exception:  # noqa: BLE001 - FieldDoesNotExist until the customer file's tags merge
        return {}
    out: dict[int, list[str]] = {}
    for customer_id, name in through.objects.filter(customer_id__in=customer_ids).values_list(
        "customer_id", "tag__name"
    ):
        out.setdefault(customer_id, []).append(name)
    return {k: ", ".join(sorted(v)) for k, v in out.items()}


def loyalty_columns(customer_ids: list[int]) -> dict[int, tuple[int | None, str]]:
    """Points balance and tier name per customer (one query)."""
    from loyalty.models import Account

    return {
        row["customer_id"]: (row["balance"], row["tier__name"] or "")
        for row in Account.objects.filter(customer_id__in=customer_ids).values("customer_id", "balance", "tier__name")
    }


def _served_most_by(request: ExportRequest, customer_ids: list[int]) -> dict[int, str]:
    """The staff member who rang most of each customer's sales in the window (one query).

    Tie rule: the most recent sale wins, then the lower user id (the SQL engine's order).
    """
    first, last = request.window
    rows = (
        CustomerMonthStaff.objects.filter(
            customer_id__in=customer_ids, store_id__in=request.store_ids, month__gte=first, month__lte=last
        )
        .values("customer_id", "staff_id", "staff__username", "staff__first_name", "staff__last_name")
        .annotate(n=Sum("tickets"), last_day=Max("last_day"))
        .order_by()
    )
    best: dict[int, tuple] = {}
    for r in rows:
        name = f"{r['staff__first_name']} {r['staff__last_name']}".strip(" ") or r["staff__username"]
        key = (r["n"], r["last_day"], -r["staff_id"])
        current = best.get(r["customer_id"])
        if current is None or key > current[0]:
            best[r["customer_id"]] = (key, name)
    return {k: v[1] for k, v in best.items()}


def _chunks(iterable: Iterable, size: int) -> Iterator[list]:
    it = iter(iterable)
    while chunk := list(islice(it, size)):
        yield chunk


def _use_sql(engine: Engine) -> bool:
    return engine in ("sql", "copy") or (engine == "auto" and connection.vendor == "postgresql")


def _use_copy(engine: Engine) -> bool:
    return engine == "copy" or (engine == "auto" and connection.vendor == "postgresql")


def export_rows(*, request: ExportRequest, limit: int | None = None, engine: Engine = "auto") -> Iterator[dict]:
    """The list's rows as dicts keyed like ``COLUMNS``, streamed (batch by batch)."""
    keys = [key for key, _label in COLUMNS]
    if _use_sql(engine):
        from .analytics_exports import export_tuples_sql

        for batch in export_tuples_sql(request, limit=_limit(request, limit), neutral=False):
            for row in batch:
                yield dict(zip(keys, row, strict=True))
        return
    yield from _export_rows_orm(request=request, limit=limit)


def _limit(request: ExportRequest, limit: int | None) -> int | None:
    """The smaller of the list's ``top`` and the caller's ``limit`` (None: no limit)."""
    caps = [n for n in (request.top, limit) if n is not None]
    return min(caps) if caps else None


def _export_rows_orm(*, request: ExportRequest, limit: int | None = None) -> Iterator[dict]:
    """The portable engine: chunks of ``CHUNK`` customers, each enriched with a fixed number of queries."""
    qs = export_queryset(request)
    if limit is not None:
        qs = qs[:limit]
    for chunk in _chunks(qs.iterator(chunk_size=CHUNK), CHUNK):
        ids = [r["customer_id"] for r in chunk]
        if request.segment in STATE_SEGMENTS:
            figures = _window_figures(request, ids)
            chunk = [
                {
                    "customer_id": r["customer_id"],
                    "visits": figures.get(r["customer_id"], {}).get("visits") or 0,
                    "tickets": figures.get(r["customer_id"], {}).get("tickets") or 0,
                    "spend": _or_zero(figures.get(r["customer_id"], {}).get("spend")),
                    "last_visit": r["last_visit"],
                }
                for r in chunk
            ]
        customers = {c.pk: c for c in Customer.objects.filter(pk__in=ids).select_related("home_store")}
        contacts = consented_contacts(customers.values())
        staff = _served_most_by(request, ids)
        interests = customer_interests(ids)
        loyalty = loyalty_columns(ids)
        for r in chunk:
            c = customers.get(r["customer_id"])
            if c is None:  # erased between the two reads
                continue
            contact = contacts.get(c.pk, {})
            points, tier = loyalty.get(c.pk, (None, ""))
            yield {
                "card": c.card_number,
                "name": c.full_name,
                "email": contact.get("email", ""),
                "phone": contact.get("phone", ""),
                "postal_address": contact.get("postal_address", ""),
                "home_store": c.home_store.code,
                "visits": r["visits"],
                "tickets": r["tickets"],
                "last_visit": r["last_visit"],
                "average_ticket": (
                    (r["spend"] / r["tickets"]).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
                    if r["tickets"]
                    else None
                ),
                "total_spend": r["spend"],
                "points": points,
                "tier": tier,
                "served_most_by": staff.get(c.pk, ""),
                "interests": interests.get(c.pk, ""),
            }


def _or_zero(value: Decimal | None) -> Decimal:
    return Decimal(0) if value is None else value


# --- Formats --------------------------------------------------------------------------------------


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value) if not isinstance(value, str) else neutralise(value)


def _csv_header() -> str:
    """The BOM (Excel opens UTF-8 names correctly) and the header line, as the csv module writes it."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow([str(label) for _key, label in COLUMNS])
    return "\ufeff" + buffer.getvalue()


def _csv_batches(request: ExportRequest, engine: Engine) -> Iterator[tuple[str, int]]:
    """(CSV text, customers in it): the BOM and header first, then a batch of rows at a time.

    With the "sql" engine the cells arrive as neutralised text (``analytics_exports``), so a batch
    is one ``writerows`` call; the ORM engine formats them here. Memory stays one batch. (The
    "copy" engine does not come here: PostgreSQL writes the same bytes, see ``csv_stream``.)
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield _csv_header(), 0
    if _use_sql(engine):
        from .analytics_exports import export_tuples_sql

        for batch in export_tuples_sql(request, limit=_limit(request, None), text=True):
            writer.writerows(batch)
            yield flush(), len(batch)
        return
    for chunk in _chunks(_export_rows_orm(request=request), CHUNK):
        writer.writerows([_cell_text(row[key]) for key, _label in COLUMNS] for row in chunk)
        yield flush(), len(chunk)


def csv_stream(*, request: ExportRequest, engine: Engine = "auto") -> Iterator[str]:
    """CSV text, header first; a generator for StreamingHttpResponse (constant memory).

    On PostgreSQL the rows come from ``COPY … TO STDOUT`` read by a thread (``copy_csv_stream``).
    """
    if _use_copy(engine):
        from .analytics_exports import copy_csv_stream

        yield _csv_header()
        for batch in copy_csv_stream(request, limit=_limit(request, None)):
            yield batch.decode()
        return
    for text, _rows in _csv_batches(request, engine):
        yield text


def csv_write(*, request: ExportRequest, target: TextIO, engine: Engine = "auto") -> int:
    """Write the CSV to an open text file; return the customers written."""
    if _use_copy(engine):
        from .analytics_exports import copy_csv

        target.write(_csv_header())
        return copy_csv(request, limit=_limit(request, None), emit=lambda batch: target.write(batch.decode()))
    written = 0
    for text, rows in _csv_batches(request, engine):
        target.write(text)
        written += rows
    return written


def _xlsx_rows(request: ExportRequest, limit: int, engine: Engine) -> Iterator[list]:
    """Batches of typed rows for the spreadsheet, text cells already neutralised."""
    if _use_sql(engine):
        from .analytics_exports import export_tuples_sql

        yield from export_tuples_sql(request, limit=_limit(request, limit), hold=True)
        return
    keys = [key for key, _label in COLUMNS]
    for chunk in _chunks(_export_rows_orm(request=request, limit=limit), CHUNK):
        yield [tuple(neutralise(row[key]) for key in keys) for row in chunk]


def xlsx_write(
    *,
    request: ExportRequest,
    path: Path,
    progress: Callable[[int], None] | None = None,
    engine: Engine = "auto",
) -> int:
    """Write the list to ``path`` with XlsxWriter in constant-memory mode; return the rows written.

    At most ``XLSX_MAX_ROWS`` rows (Excel's limit). Text cells are neutralised (a leading
    apostrophe) and written as strings — ``strings_to_formulas``/``_numbers``/``_urls`` are off,
    so no cell is ever a formula, a number parsed from text, or a link.
    """
    import xlsxwriter

    path.parent.mkdir(parents=True, exist_ok=True)
    workbook = xlsxwriter.Workbook(str(path), XLSX_OPTIONS)
    try:
        sheet = workbook.add_worksheet(str(_("Customers"))[:31])
        sheet.write_row(0, 0, [str(label) for _key, label in COLUMNS], workbook.add_format({"bold": True}))
        written = 0
        text = _text_columns()
        for batch in _xlsx_rows(request, XLSX_MAX_ROWS, engine):
            for row in batch:
                written += 1
                xlsx_write_row(sheet, written, row, text)
            if progress:
                progress(written)
    finally:
        workbook.close()
    return written


# Constant memory (one row in memory at a time); no text is ever turned into a formula, number or link.
XLSX_OPTIONS = {
    "constant_memory": True,
    "strings_to_formulas": False,
    "strings_to_numbers": False,
    "strings_to_urls": False,
    "default_date_format": "yyyy-mm-dd",
}


def xlsx_write_row(sheet, r: int, row, text: frozenset[int]) -> None:
    """One row of the list into an XlsxWriter sheet: text columns as strings, dates as dates, else numbers."""
    for col, value in enumerate(row):
        if value is None:
            continue
        if col in text:
            sheet.write_string(r, col, value)
        elif isinstance(value, dt.date):
            sheet.write_datetime(r, col, value)
        else:
            sheet.write_number(r, col, value)


def _text_columns() -> frozenset[int]:
    numbers = {"visits", "tickets", "last_visit", "average_ticket", "total_spend", "points"}
    return frozenset(i for i, (key, _label) in enumerate(COLUMNS) if key not in numbers)


def pdf_render(*, request: ExportRequest) -> tuple[bytes, int]:
    """A printable list (WeasyPrint, lean CSS), at most ``PDF_MAX_ROWS`` rows."""
    from django.template.loader import render_to_string
    from weasyprint import HTML

    total = export_rows_count(request=request)
    rows = list(export_rows(request=request, limit=PDF_MAX_ROWS))
    html = render_to_string(
        "outreach/exports/list_pdf.html",
        {
            "rows": rows,
            "columns": COLUMNS,
            "request": request,
            "segment_label": dict(SEGMENT_CHOICES).get(request.segment, request.segment),
            "truncated": total > len(rows),
            "total": total,
        },
    )
    return HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf(), len(rows)


def export_filename(request: ExportRequest, fmt: str) -> str:
    where = "-".join(request.store_codes) or "all"
    top = f"-top{request.top}" if request.top else ""
    return f"customers-{request.segment}{top}-{where}-{request.as_of.isoformat()}.{fmt}"


# --- Audit and background jobs --------------------------------------------------------------------


def export_audit(*, actor, request: ExportRequest, fmt: str, rows: int):
    """One audit entry per export: who (actor), when (the row's time), the filter and the row count."""
    from customers.services import audit_record

    return audit_record(
        actor=actor, action="export", details={"filter": request.details(), "format": fmt, "rows": rows}
    )


def export_job_start(*, by, request: ExportRequest) -> ExportJob:
    """Record an XLSX export and queue it after commit."""
    from django.db import transaction

    from .tasks_dashboard import export_xlsx_task

    job = ExportJob.objects.create(
        requested_by=by,
        format="xlsx",
        filter={**request.details(), "store_ids": list(request.store_ids)},
    )
    transaction.on_commit(lambda: export_xlsx_task.delay(job.pk))
    return job


def job_path(job: ExportJob) -> Path:
    return Path(settings.MEDIA_ROOT) / job.file


def _request_from_job(job: ExportJob) -> ExportRequest:
    f = job.filter
    return ExportRequest(
        segment=f["segment"],
        top=f.get("top"),
        store_ids=tuple(f["store_ids"]),
        store_codes=tuple(f["stores"]) if isinstance(f["stores"], list) else (),
        as_of=dt.date.fromisoformat(f["as_of"]),
    )


def export_job_run(*, job_id: int, now: dt.datetime) -> ExportJob:
    """Build an export job's XLSX file with progress; idempotent (a finished job is left alone)."""
    job = ExportJob.objects.select_related("requested_by").get(pk=job_id)
    if job.status == ExportJob.Status.DONE:
        return job
    request = _request_from_job(job)
    total = export_rows_count(request=request)
    job.rows_total = min(total, XLSX_MAX_ROWS)
    job.rows_done = 0
    job.status = ExportJob.Status.RUNNING
    job.message = (
        str(
            _(
                "Excel holds at most 1,048,576 rows: the file has the first %(n)s of %(total)s customers. "
                "Export CSV for the whole list."
            )
        )
        % {"n": f"{XLSX_MAX_ROWS:,}", "total": f"{total:,}"}
        if total > XLSX_MAX_ROWS
        else ""
    )
    job.save(update_fields=["rows_total", "rows_done", "status", "message"])

    def progress(done: int) -> None:
        ExportJob.objects.filter(pk=job.pk).update(rows_done=min(done, job.rows_total))

    relative = f"exports/{job.pk}-{export_filename(request, 'xlsx')}"
    path = Path(settings.MEDIA_ROOT) / relative
    written = xlsx_write(request=request, path=path, progress=progress)
    job.rows_total = max(job.rows_total, written)
    job.rows_done = written
    job.status = ExportJob.Status.DONE
    job.file = relative
    job.finished_at = now
    job.save(update_fields=["rows_total", "rows_done", "status", "file", "finished_at"])
    export_audit(actor=job.requested_by, request=request, fmt="xlsx", rows=written)
    log.info("export job=%s rows=%s", job.pk, written)
    return job


def export_job_fail(*, job_id: int, message: str) -> None:
    ExportJob.objects.filter(pk=job_id).update(status=ExportJob.Status.FAILED, message=message[:255])


def export_job_get(*, user, pk: int) -> ExportJob:
    """An export job of ``user`` (another owner's exports are theirs), or 404."""
    from django.shortcuts import get_object_or_404

    return get_object_or_404(ExportJob, pk=pk, requested_by=user)
