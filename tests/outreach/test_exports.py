"""Owner exports: spreadsheet-formula escaping (CSV and XLSX read back), audit, limits, refusal."""

import csv
import datetime as dt
import io
import subprocess
import threading
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse
from openpyxl import load_workbook

from customers.models import AuditEntry
from outreach import exports, rules
from outreach.exports import ExportRequest, neutralise
from outreach.models import ExportJob
from outreach.services import segments_refresh
from tests.factories import CustomerFactory, visits
from tests.outreach.conftest import refresh

pytestmark = pytest.mark.django_db

AS_OF = dt.date(2026, 11, 1)
HOSTILE = ['=HYPERLINK("http://evil.test","x")', "+SUM(1,2)", "-2+3+cmd|' /C calc'!A0", "@SUM(A1)"]
# Names are trimmed by the customer file; addresses keep a leading tab, CR or LF.
HOSTILE_ADDRESSES = ["\tTab street 1", "\rCR street 2", "\nLF street 3", "=1+1"]


@pytest.fixture
def hostile_customers(store, best_regular, lapsed_regular, one_timer):
    """Customers whose names a spreadsheet would run as formulas, plus the personas."""
    made = []
    for i, name in enumerate(HOSTILE):
        c = CustomerFactory(
            first_name=name,
            last_name="",
            home_store=store,
            postal_address=HOSTILE_ADDRESSES[i],
            email=f"x{i}@ex.test",
            consent_email=True,
            consent_post=True,
        )
        visits(c, [dt.date(2026, 10, 1 + i), dt.date(2026, 10, 10 + i)])
        made.append(c)
    refresh(dt.date(2025, 11, 1), dt.date(2026, 11, 1))
    for scope in (store, None):
        segments_refresh(store=scope, as_of=AS_OF, now=dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC))
    return made


def _request(store, top=None, segment="best"):
    return ExportRequest(segment=segment, top=top, store_ids=(store.pk,), store_codes=(store.code,), as_of=AS_OF)


@pytest.mark.parametrize("value", HOSTILE + HOSTILE_ADDRESSES)
def test_cells_starting_with_formula_characters_get_an_apostrophe(value):
    assert neutralise(value) == "'" + value
    assert neutralise("Jasur") == "Jasur"
    assert neutralise(42) == 42


def test_best_customers_are_ranked_by_visits_not_money(store, hostile_customers, best_regular):
    rows = list(exports.export_rows(request=_request(store, top=3)))
    assert rows[0]["card"] == best_regular.card_number  # 53 weekly visits beat everyone
    assert rows[0]["visits"] >= rows[1]["visits"] >= rows[2]["visits"]
    assert len(rows) == 3


def test_csv_neutralises_hostile_names_and_emails(store, hostile_customers):
    body = "".join(exports.csv_stream(request=_request(store)))
    reader = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    header, data = reader[0], reader[1:]
    names = [row[header.index("Name")] for row in data]
    addresses = [row[header.index("Postal address")] for row in data]
    assert {"'" + v for v in HOSTILE} <= set(names)
    assert {"'" + v for v in HOSTILE_ADDRESSES} <= set(addresses)
    for row in data:
        for cell in row:
            assert not cell.startswith(("=", "+", "@", "\t", "\r", "\n")), cell
            if cell.startswith("-"):
                float(cell)  # only our own negative numbers may start with a minus


def test_xlsx_has_no_formula_cells_and_hostile_names_survive_as_text(store, hostile_customers, tmp_path):
    path = tmp_path / "best.xlsx"
    written = exports.xlsx_write(request=_request(store), path=path)
    wb = load_workbook(path)
    ws = wb.active
    cells = [c for row in ws.iter_rows() for c in row]
    assert written == len(hostile_customers) + 3
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    names = {ws.cell(row=r, column=2).value for r in range(2, ws.max_row + 1)}
    addresses = {ws.cell(row=r, column=5).value for r in range(2, ws.max_row + 1)}
    assert {"'" + v for v in HOSTILE} <= names
    # XlsxWriter stores a CR as the OOXML escape _x000D_ (Excel shows a CR), which openpyxl does not
    # decode; what matters is the apostrophe in front.
    read = {a.replace("_x000D_", "\n").replace("\r", "\n") for a in addresses if a}
    assert {"'" + v.replace("\r", "\n") for v in HOSTILE_ADDRESSES} <= read
    visits_col = [ws.cell(row=r, column=7).value for r in range(2, ws.max_row + 1)]
    assert all(isinstance(v, int) for v in visits_col)  # numbers stay numbers


def test_xlsx_is_capped_with_a_clear_message(store, hostile_customers, owner, media_root, monkeypatch):
    monkeypatch.setattr(exports, "XLSX_MAX_ROWS", 4)
    job = exports.export_job_start(by=owner, request=_request(store))
    job = exports.export_job_run(job_id=job.pk, now=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    assert (job.status, job.rows_done) == (ExportJob.Status.DONE, 4)
    assert "at most 1,048,576 rows" in job.message and "Export CSV" in job.message
    assert load_workbook(exports.job_path(job)).active.max_row == 5  # header + 4


def test_every_export_is_audited_with_filter_and_rows_but_no_personal_data(
    login, owner, store, hostile_customers, media_root
):
    client = login(owner)
    response = client.get(
        reverse("dashboard:export_download"), {"segment": "best", "top": "5", "format": "csv", "store": store.code}
    )
    assert response.status_code == 200
    b"".join(response.streaming_content)
    entry = AuditEntry.objects.get(action="export")
    assert entry.actor == owner
    assert entry.details["rows"] == 5
    assert entry.details["filter"]["segment"] == "best" and entry.details["filter"]["stores"] == [store.code]
    flat = str(entry.details)
    for c in hostile_customers:
        assert c.email not in flat and c.card_number not in flat and c.first_name not in flat


def test_owner_starts_an_xlsx_job_and_downloads_the_file(
    login, owner, store, hostile_customers, media_root, django_capture_on_commit_callbacks
):
    from crm.celery import app

    client = login(owner)
    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("dashboard:export_start"), {"segment": "best", "top": "3", "format": "xlsx"})
    finally:
        app.conf.task_always_eager = False
    job = ExportJob.objects.get()
    assert response["Location"] == reverse("dashboard:export_job", args=[job.pk])
    status = client.get(reverse("dashboard:export_job_status", args=[job.pk])).json()
    assert status["status"] == "done" and status["percent"] == 100 and status["download"]
    file = client.get(status["download"])
    wb = load_workbook(io.BytesIO(b"".join(file.streaming_content)))
    assert wb.active.max_row == 4
    assert AuditEntry.objects.filter(action="export", details__format="xlsx", details__rows=3).exists()


def test_another_owner_cannot_see_my_export(login, owner, store, media_root):
    from customers.models import Role
    from tests.factories import MembershipFactory, UserFactory

    job = exports.export_job_start(by=owner, request=_request(store, top=5))
    other = UserFactory(username="second.owner")
    MembershipFactory(user=other, store=None, role=Role.OWNER)
    assert login(other).get(reverse("dashboard:export_job", args=[job.pk])).status_code == 404


@pytest.mark.parametrize("who", ["staff", "manager"])
@pytest.mark.parametrize("name", ["dashboard:exports", "dashboard:export_download"])
def test_staff_and_managers_are_refused_exports(login, request, who, name):
    user = request.getfixturevalue(who)
    assert login(user).get(reverse(name), {"format": "csv"}).status_code == 403
    assert not AuditEntry.objects.filter(action="export").exists()


def test_pdf_lists_the_customers(store, hostile_customers, best_regular, tmp_path):
    pdf, rows = exports.pdf_render(request=_request(store, top=5))
    path = tmp_path / "best.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert rows == 5 and best_regular.card_number in text and "Toshmatov" in text


def test_export_command_writes_csv_xlsx_and_pdf(store, hostile_customers, best_regular, tmp_path):
    for fmt in ("csv", "xlsx", "pdf"):
        out = tmp_path / f"best.{fmt}"
        call_command(
            "export_customers",
            "--segment",
            "best",
            "--top",
            "2",
            "--as-of",
            "2026-11-01",
            "--store",
            store.code,
            "--format",
            fmt,
            "-o",
            str(out),
        )
        assert out.stat().st_size > 0
    rows = list(csv.reader(io.StringIO((tmp_path / "best.csv").read_text().lstrip("\ufeff"))))
    assert len(rows) == 3 and rows[1][0] == best_regular.card_number
    assert AuditEntry.objects.filter(action="export", actor=None).count() == 3
    assert load_workbook(tmp_path / "best.xlsx").active.max_row == 3


def test_contact_details_leave_only_with_their_consent(store):
    quiet = CustomerFactory(home_store=store, consent_email=True, consent_post=False, consent_sms=False)
    blocked = CustomerFactory(home_store=store, consent_email=True, consent_post=True, do_not_contact=True)
    contacts = exports.consented_contacts([quiet, blocked])
    assert contacts[quiet.pk] == {"email": quiet.email, "phone": "", "postal_address": ""}
    assert contacts[blocked.pk] == {"email": "", "phone": "", "postal_address": ""}


# --- Segment lists from the segmentation tables -----------------------------------------------------


def _names(rows) -> list[str]:
    return [r["card"] for r in rows]


def test_the_export_offers_every_segment_of_the_segmentation():
    offered = {value for value, _label in exports.SEGMENT_CHOICES}
    assert offered == {*rules.SEGMENT_NAMES, "all"}
    assert {"best", "lapsed", "lost", "new", "one_timer", "at_risk"} <= offered
    assert {"buyer", "repeat", "regular", "adherent", "advocate"} <= offered


def test_best_is_the_segmentation_best_list_in_rank_order(store, hostile_customers, best_regular):
    from outreach.models import CustomerSegmentState, SegmentPolicy

    SegmentPolicy.objects.update_or_create(store=None, defaults={"best_top_n": 2})
    segments_refresh(store=None, as_of=AS_OF, now=dt.datetime(2026, 11, 1, 10, tzinfo=dt.UTC))
    chain = ExportRequest(segment="best", top=None, store_ids=(store.pk,), as_of=AS_OF)
    ranked = CustomerSegmentState.objects.filter(scope_key="chain", is_best=True).order_by("best_rank")
    expected = [s.customer.card_number for s in ranked]
    assert len(expected) == 2 and expected[0] == best_regular.card_number
    assert _names(exports.export_rows(request=chain)) == expected
    assert exports.export_rows_count(request=chain) == 2
    # The store's own segmentation keeps its default top 50: everyone who bought there.
    assert exports.export_rows_count(request=_request(store, segment="best")) == 7


def test_each_segment_lists_its_members_from_the_state_table(
    store, hostile_customers, best_regular, lapsed_regular, one_timer
):
    def listed(segment):
        return _names(exports.export_rows(request=_request(store, segment=segment)))

    assert listed("lapsed") == [lapsed_regular.card_number]
    assert listed("one_timer") == [one_timer.card_number]
    assert listed("adherent") == [best_regular.card_number]
    assert set(listed("repeat")) == {c.card_number for c in hostile_customers} | {lapsed_regular.card_number}
    assert listed("lost") == [] and listed("advocate") == []
    row = next(exports.export_rows(request=_request(store, segment="lapsed")))
    assert row["last_visit"] == AS_OF - dt.timedelta(days=63)  # the last visit, even outside the window
    assert row["visits"] > 0 and row["tickets"] == row["visits"]  # the 12-month figures


def test_a_store_segment_counts_visits_in_that_store_only(store, other_store, hostile_customers, best_regular):
    visitor = CustomerFactory(home_store=other_store)
    visits(visitor, [dt.date(2026, 10, d) for d in (1, 8, 15, 22)])
    for scope in (other_store, None):
        segments_refresh(store=scope, as_of=AS_OF, now=dt.datetime(2026, 11, 1, 10, tzinfo=dt.UTC))
    here = _names(exports.export_rows(request=_request(store, segment="regular")))
    chain = ExportRequest(segment="regular", top=None, store_ids=(store.pk, other_store.pk), as_of=AS_OF)
    assert visitor.card_number not in here
    assert visitor.card_number in _names(exports.export_rows(request=chain))


def test_segment_csv_neutralises_hostile_names(store, hostile_customers):
    body = "".join(exports.csv_stream(request=_request(store, segment="repeat")))
    data = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))[1:]
    assert {"'" + v for v in HOSTILE} <= {row[1] for row in data}
    assert not any(cell.startswith(("=", "+", "@", "\t", "\r", "\n")) for row in data for cell in row)


def test_export_command_takes_any_segment_and_refuses_several_stores(
    store, other_store, hostile_customers, lapsed_regular, tmp_path
):
    from django.core.management.base import CommandError

    out = tmp_path / "lapsed.csv"
    call_command("export_customers", "--segment", "lapsed", "--store", store.code, "-o", str(out))
    rows = list(csv.reader(io.StringIO(out.read_text().lstrip("\ufeff"))))
    assert [r[0] for r in rows[1:]] == [lapsed_regular.card_number]
    entry = AuditEntry.objects.filter(action="export").latest("pk")
    assert entry.details["filter"]["scope"] == f"store:{store.pk}" and entry.details["rows"] == 1
    with pytest.raises(CommandError, match="one store"):
        call_command(
            "export_customers",
            "--segment",
            "lapsed",
            "--store",
            store.code,
            "--store",
            other_store.code,
            "-o",
            str(out),
        )


def test_owner_downloads_a_segment_csv_from_the_web(login, owner, store, hostile_customers, one_timer):
    response = login(owner).get(
        reverse("dashboard:export_download"), {"segment": "one_timer", "format": "csv", "store": store.code}
    )
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert [r[0] for r in rows[1:]] == [one_timer.card_number]


# --- The PostgreSQL engine (one query) and the ORM engine give the same rows ------------------------


@pytest.fixture
def enriched(store, other_store, hostile_customers, best_regular, lapsed_regular, one_timer):
    """Staff who served the personas (with a tie), interests, points and tiers, an erased customer."""
    from customers.models import Tag
    from loyalty.models import Account, Tier
    from tests.factories import TicketFactory, UserFactory

    ann = UserFactory(username="ann.cashier", first_name="Ann", last_name="Cashier")
    bob = UserFactory(username="bob.cashier", first_name="", last_name="")
    cal = UserFactory(username="cal.cashier", first_name="Cal", last_name="")
    # best_regular: Bob rings 3 sales, Ann 2 → Bob. lapsed_regular: one each → the later sale (Ann's) wins.
    for i, who in enumerate([bob, bob, bob, ann, ann]):
        TicketFactory(customer=best_regular, served_by=who, purchased_at=dt.datetime(2026, 9, 1 + i, 9, tzinfo=dt.UTC))
    TicketFactory(customer=lapsed_regular, served_by=cal, purchased_at=dt.datetime(2026, 8, 1, 9, tzinfo=dt.UTC))
    TicketFactory(customer=lapsed_regular, served_by=ann, purchased_at=dt.datetime(2026, 8, 20, 9, tzinfo=dt.UTC))
    # Sales at another store, or outside the window, do not count for a one-store list.
    for day in (2, 3, 4, 5):
        TicketFactory(
            customer=lapsed_regular,
            store=other_store,
            served_by=cal,
            purchased_at=dt.datetime(2026, 8, day, 9, tzinfo=dt.UTC),
        )
    jazz, kosher, plus = (Tag.objects.create(name=n) for n in ("jazz", "Kosher", "+vip"))
    best_regular.tags.add(jazz, kosher, plus)
    one_timer.tags.add(jazz)
    gold = Tier.objects.create(name="=Gold", rank=1)
    Account.objects.create(customer=best_regular, store=store, balance=-40, tier=gold)
    Account.objects.create(customer=lapsed_regular, store=store, balance=120)
    erased = hostile_customers[1]
    erased.erased_at = dt.datetime(2026, 10, 20, tzinfo=dt.UTC)
    erased.save(update_fields=["erased_at"])
    refresh(dt.date(2025, 11, 1), dt.date(2026, 11, 1))
    for scope in (store, None):
        segments_refresh(store=scope, as_of=AS_OF, now=dt.datetime(2026, 11, 1, 10, tzinfo=dt.UTC))
    return {"ann": ann, "bob": bob, "cal": cal}


@pytest.mark.parametrize("segment", ["all", "best", "repeat", "lapsed", "one_timer", "at_risk", "adherent"])
def test_sql_and_orm_engines_give_the_same_rows_and_csv(store, enriched, segment):
    request = _request(store, segment=segment)
    sql = list(exports.export_rows(request=request, engine="sql"))
    orm = list(exports.export_rows(request=request, engine="orm"))
    assert sql == orm
    assert "".join(exports.csv_stream(request=request, engine="sql")) == "".join(
        exports.csv_stream(request=request, engine="orm")
    )
    top = _request(store, segment=segment, top=2)
    assert list(exports.export_rows(request=top, engine="sql")) == list(exports.export_rows(request=top, engine="orm"))


def test_served_most_by_counts_the_window_at_the_list_stores_and_breaks_ties_by_the_latest_sale(
    store, enriched, best_regular, lapsed_regular
):
    for engine in ("sql", "orm"):
        rows = {r["card"]: r for r in exports.export_rows(request=_request(store, segment="all"), engine=engine)}
        assert rows[best_regular.card_number]["served_most_by"] == "bob.cashier"  # no name: the username
        # One sale each at this store (Cal's four at the other store do not count): Ann's is the later one.
        assert rows[lapsed_regular.card_number]["served_most_by"] == "Ann Cashier"
        assert rows[best_regular.card_number]["interests"] == "+vip, Kosher, jazz"
        assert (rows[best_regular.card_number]["points"], rows[best_regular.card_number]["tier"]) == (-40, "=Gold")


def test_csv_from_the_one_query_neutralises_every_text_column(store, enriched, best_regular):
    body = "".join(exports.csv_stream(request=_request(store, segment="all"), engine="sql"))
    rows = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))
    mine = next(r for r in rows if r["Card"] == best_regular.card_number)
    assert (mine["Interests"], mine["Tier"], mine["Points"]) == ("'+vip, Kosher, jazz", "'=Gold", "-40")
    assert any(r["Name"].startswith("Erased customer #") and r["Email"] == r["Postal address"] == "" for r in rows)


# --- The CSV written by PostgreSQL (COPY … TO STDOUT) is the csv module's, byte for byte ---------------

AWKWARD = [
    # (first name, last name, postal address): quotes, commas, newlines, formula prefixes, empties, non-ASCII
    ('Say "hi"', "O'Neil, Jr.", 'Flat 2, "Blue" house'),
    ("Line\nbreak", "Carriage\rreturn", "Both\r\nends\n"),
    ("=1+1", "", "-minus, first"),
    ("", "", ""),  # no name at all, an empty address
    ("Жасур", "Тошматов", "Чилонзор, 5-уй"),
    ("مریم", "رضایی", "خیابان ولیعصر"),
    ("Mỹ 😀", "Nguyễn", "\\."),  # "\." on its own is COPY's end-of-data marker in text mode
    (" padded ", "  ", " , "),
    ("@home", "+tag", "\t tabbed"),
]


@pytest.fixture
def awkward(store, other_store):
    """Customers and related rows whose cells the two CSV writers could quote differently."""
    from customers.models import Tag
    from loyalty.models import Account, Tier
    from tests.factories import TicketFactory, UserFactory

    staff = [
        UserFactory(username="q.user", first_name='Quote "Q"', last_name="Comma, C"),
        UserFactory(username="nl.user", first_name="New\nLine", last_name=""),
        UserFactory(username="=staff", first_name="", last_name=""),
    ]
    tiers = [Tier.objects.create(name='Gold, "real"', rank=1), Tier.objects.create(name="", rank=2)]
    tags = [Tag.objects.create(name=n) for n in ('say "cheese"', "a,b", "line\nfeed", "-neg", "ünï")]
    made = []
    for i, (first, last, address) in enumerate(AWKWARD):
        c = CustomerFactory(
            first_name=first,
            last_name=last,
            home_store=store,
            postal_address=address,
            email="" if i % 3 == 0 else f'"odd",{i}@ex.test',
            phone="" if i % 2 else f"=+99890{i:07d}",
            consent_email=i % 4 != 1,
            consent_sms=True,
            consent_post=True,
        )
        for day in range(1 + i % 3):
            TicketFactory(
                customer=c,
                store=store,
                served_by=staff[i % 3],
                total=Decimal("0.00") if i == 3 else Decimal("12.35") + i,
                purchased_at=dt.datetime(2026, 9, 1 + day + i, 9, tzinfo=dt.UTC),
            )
        if i % 3 != 2:  # some with no account (points and tier NULL)
            Account.objects.create(customer=c, store=store, balance=i * 7 - 20, tier=tiers[i % 2] if i % 4 else None)
        c.tags.add(*tags[: i % 4])
        made.append(c)
    refresh(dt.date(2025, 11, 1), dt.date(2026, 11, 1))
    for scope in (store, None):
        segments_refresh(store=scope, as_of=AS_OF, now=dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC))
    return made


@pytest.mark.parametrize("segment", ["all", "best", "one_timer", "repeat"])
def test_copy_csv_is_the_csv_module_csv_byte_for_byte(store, awkward, segment):
    for top in (None, 3):
        request = _request(store, segment=segment, top=top)
        by_module = "".join(exports.csv_stream(request=request, engine="sql"))
        by_copy = "".join(exports.csv_stream(request=request, engine="copy"))
        assert by_copy == by_module
        assert by_copy == "".join(exports.csv_stream(request=request, engine="orm"))
        module_file, copy_file = io.StringIO(), io.StringIO()
        rows_module = exports.csv_write(request=request, target=module_file, engine="sql")
        rows_copy = exports.csv_write(request=request, target=copy_file, engine="copy")
        assert copy_file.getvalue() == by_copy
        assert module_file.getvalue() == by_module
        assert rows_copy == rows_module == len(list(csv.reader(io.StringIO(by_copy)))) - 1
    assert "".join(exports.csv_stream(request=request)) == by_copy  # "auto" on PostgreSQL is COPY


def test_copy_csv_covers_the_awkward_cells(store, awkward):
    body = "".join(exports.csv_stream(request=_request(store, segment="all"), engine="copy"))
    assert body.startswith("\ufeffCard,Name,")
    rows = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))
    assert len(rows) == len(AWKWARD)
    by_card = {r["Card"]: r for r in rows}
    cells = {c.card_number: by_card[c.card_number] for c in awkward}
    first = cells[awkward[0].card_number]
    assert first["Name"] == 'Say "hi" O\'Neil, Jr.'
    assert first["Postal address"] == 'Flat 2, "Blue" house'
    assert cells[awkward[1].card_number]["Postal address"] == "Both\r\nends\n"
    assert cells[awkward[2].card_number]["Name"] == "'=1+1"
    assert cells[awkward[2].card_number]["Postal address"] == "'-minus, first"
    nobody = cells[awkward[3].card_number]
    assert (nobody["Name"], nobody["Postal address"], nobody["Email"]) == ("", "", "")
    assert cells[awkward[4].card_number]["Name"] == "Жасур Тошматов"
    assert cells[awkward[8].card_number]["Postal address"] == "'\t tabbed"
    assert any(r["Points"] == "" and r["Tier"] == "" for r in rows)  # NULLs
    # Every line ends as the csv module ends it; no empty cell is written as "" (COPY's empty string).
    assert body.endswith("\r\n")
    assert ',"",' not in body and not body.rstrip("\r\n").endswith(',""')


def test_closing_the_copy_stream_early_cancels_the_statement(store, awkward, monkeypatch):
    from django.db import connection

    from outreach import analytics_exports

    monkeypatch.setattr(analytics_exports, "COPY_BATCH", 1)
    monkeypatch.setattr(analytics_exports, "COPY_QUEUE", 1)
    stream = exports.csv_stream(request=_request(store, segment="all"), engine="copy")
    assert next(stream).startswith("\ufeff")
    assert next(stream).endswith("\r\n")  # one row
    stream.close()  # the client went away: the reader thread stops and the transaction is rolled back
    assert not any(t.name == "csv-copy" for t in threading.enumerate())
    with connection.cursor() as cursor:  # the connection is usable
        cursor.execute("SELECT count(*) FROM customers_customer")
        assert cursor.fetchone()[0] >= len(AWKWARD)
    assert "".join(exports.csv_stream(request=_request(store, segment="all"), engine="copy")) == "".join(
        exports.csv_stream(request=_request(store, segment="all"), engine="sql")
    )


# --- "Served most by" kept per customer by the dashboard refresh (CustomerServedMost) ---------------

WINDOW_LAST = dt.date(2026, 11, 1)  # the window of AS_OF: December 2025 … November 2026


def _chain(segment="all", top=None):
    from customers.models import Store

    return ExportRequest(
        segment=segment, top=top, store_ids=tuple(Store.objects.values_list("pk", flat=True)), as_of=AS_OF
    )


def _sale(customer, who, day, store=None, total=Decimal("10.00")):
    from tests.factories import TicketFactory

    return TicketFactory(
        customer=customer,
        store=store or customer.home_store,
        served_by=who,
        total=total,
        purchased_at=dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC),
    )


@pytest.fixture
def served_window(monkeypatch):
    """The refresh keeps CustomerServedMost for AS_OF's window (as it would on a day of November 2026)."""
    from outreach import analytics_dashboard

    monkeypatch.setattr(analytics_dashboard, "served_most_month", lambda: WINDOW_LAST)


@pytest.fixture
def ties(store, other_store, served_window):
    """Customers whose "served most by" turns on every part of the rule, at two stores."""
    from tests.factories import UserFactory

    ann = UserFactory(username="ann.t", first_name="Ann", last_name="T")
    bob = UserFactory(username="bob.t", first_name="Bob", last_name="T")
    cal = UserFactory(username="cal.t", first_name="", last_name="")  # no name: the username
    low, high = sorted([ann, bob], key=lambda u: u.pk)
    made = {}
    # Most sales wins: Ann 3, Bob 2 (Bob's later).
    made["most"] = c = CustomerFactory(first_name="Most", last_name="Sales", home_store=store)
    for day, who in [(3, ann), (4, ann), (5, ann), (20, bob), (21, bob)]:
        _sale(c, who, dt.date(2026, 9, day))
    # Two each: the most recent sale wins (Bob's).
    made["recent"] = c = CustomerFactory(first_name="Recent", last_name="Sale", home_store=store)
    for day, who in [(3, ann), (4, ann), (6, bob), (9, bob)]:
        _sale(c, who, dt.date(2026, 9, day))
    # Two each, last sales on the same day: the lower user id wins.
    made["same_day"] = c = CustomerFactory(first_name="Same", last_name="Day", home_store=store)
    for who in (high, low):
        _sale(c, who, dt.date(2026, 8, 2))
        _sale(c, who, dt.date(2026, 8, 9))
    # Chain-wide: Cal's three sales at the other store beat Ann's two at the home store.
    made["two_stores"] = c = CustomerFactory(first_name="Two", last_name="Stores", home_store=store)
    for day in (1, 2):
        _sale(c, ann, dt.date(2026, 10, day))
    for day in (3, 4, 5):
        _sale(c, cal, dt.date(2026, 10, day), store=other_store)
    # Sales before the window (November 2025) do not count; returns do not either.
    made["window"] = c = CustomerFactory(first_name="In", last_name="Window", home_store=store)
    for day in (1, 2, 3):
        _sale(c, ann, dt.date(2025, 11, day))
    _sale(c, bob, dt.date(2026, 2, 1))
    _sale(c, ann, dt.date(2026, 2, 2), total=Decimal("-10.00"))
    # Bought, but no sale rung by anyone: no row, an empty cell.
    made["nobody"] = c = CustomerFactory(first_name="No", last_name="Staff", home_store=other_store)
    _sale(c, None, dt.date(2026, 10, 7))
    refresh(dt.date(2025, 11, 1), dt.date(2026, 11, 1))
    return {"customers": made, "ann": ann, "bob": bob, "cal": cal, "low": low}


def _served(request, engine):
    return {r["card"]: r["served_most_by"] for r in exports.export_rows(request=request, engine=engine)}


def _live_sql(request):
    """The SQL engine's rows with CustomerServedMost set aside (the window not recorded): computed live."""
    from django.db import transaction

    from outreach.models import ServedMostWindow

    with transaction.atomic():
        ServedMostWindow.objects.all().delete()
        rows = list(exports.export_rows(request=request, engine="sql"))
        transaction.set_rollback(True)
    return rows


def test_precomputed_served_most_by_is_the_live_computation(ties, store):
    from outreach.analytics_exports import served_most_held
    from outreach.models import CustomerServedMost

    made, request = ties["customers"], _chain()
    assert served_most_held(request)  # the refresh kept it for this window
    assert not served_most_held(_request(store, segment="all"))  # one store of two: live
    assert not served_most_held(
        ExportRequest(segment="all", top=None, store_ids=request.store_ids, as_of=dt.date(2026, 10, 31))
    )  # another window: live
    served = _served(request, "sql")
    expected = {
        "most": "Ann T",
        "recent": "Bob T",
        "same_day": f"{ties['low'].first_name} T",
        "two_stores": "cal.t",
        "window": "Bob T",
        "nobody": "",
    }
    assert {k: served[c.card_number] for k, c in made.items()} == expected
    assert not CustomerServedMost.objects.filter(customer=made["nobody"]).exists()
    rows = list(exports.export_rows(request=request, engine="sql"))
    assert rows == list(exports.export_rows(request=request, engine="orm")) == _live_sql(request)
    copy = "".join(exports.csv_stream(request=request, engine="copy"))
    assert copy == "".join(exports.csv_stream(request=request, engine="orm"))
    assert copy == "".join(exports.csv_stream(request=request, engine="sql"))
    top = _chain(top=2)
    assert list(exports.export_rows(request=top, engine="sql")) == list(exports.export_rows(request=top, engine="orm"))


def test_precomputed_served_most_by_follows_new_tickets_and_refreshes(ties, store):
    from outreach.analytics_dashboard import dashboard_aggregates_refresh, served_most_refresh
    from outreach.models import CustomerServedMost

    made, request = ties["customers"], _chain()
    # New tickets for two customers, refreshed for them only (the ticket receiver's path): Bob
    # overtakes Ann; Ann draws level with Cal chain-wide and has the later sale.
    for day in (1, 2):
        _sale(made["most"], ties["bob"], dt.date(2026, 11, day))
    _sale(made["two_stores"], ties["ann"], dt.date(2026, 11, 3))
    dashboard_aggregates_refresh(
        start=dt.date(2026, 11, 1), end=dt.date(2026, 11, 3), customer_ids=[made["most"].pk, made["two_stores"].pk]
    )
    served = _served(request, "sql")
    assert (served[made["most"].card_number], served[made["two_stores"].card_number]) == ("Bob T", "Ann T")
    assert list(exports.export_rows(request=request, engine="sql")) == _live_sql(request)
    # A refresh of every customer (the nightly run) after a sale for a third; the first staffed sale
    # of "nobody" gives them a row.
    _sale(made["recent"], ties["ann"], dt.date(2026, 11, 4))
    _sale(made["nobody"], ties["cal"], dt.date(2026, 11, 4))
    dashboard_aggregates_refresh(start=dt.date(2026, 11, 4), end=dt.date(2026, 11, 4))
    served = _served(request, "sql")
    assert (served[made["recent"].card_number], served[made["nobody"].card_number]) == ("Ann T", "cal.t")
    assert list(exports.export_rows(request=request, engine="sql")) == list(
        exports.export_rows(request=request, engine="orm")
    )
    assert "".join(exports.csv_stream(request=request, engine="copy")) == "".join(
        exports.csv_stream(request=request, engine="orm")
    )
    # Idempotent: a second rebuild writes nothing; the portable engine keeps the same rows.
    before = sorted(CustomerServedMost.objects.values_list("customer_id", "staff_id"))
    assert served_most_refresh(month=WINDOW_LAST) == 0
    CustomerServedMost.objects.all().delete()
    served_most_refresh(month=WINDOW_LAST, engine="orm")
    assert sorted(CustomerServedMost.objects.values_list("customer_id", "staff_id")) == before
    assert served_most_refresh(month=WINDOW_LAST, engine="orm") == 0


def test_a_new_month_or_a_deleted_staff_member_falls_back_to_the_live_computation(ties, store, monkeypatch):
    from outreach import analytics_dashboard
    from outreach.analytics_dashboard import dashboard_aggregates_refresh
    from outreach.analytics_exports import served_most_held
    from outreach.models import ServedMostWindow

    made, request = ties["customers"], _chain()
    # The staff member who served "two stores" most leaves: their sales no longer name anyone.
    ties["cal"].delete()
    assert not served_most_held(request)
    assert _served(request, "sql")[made["two_stores"].card_number] == "Ann T"
    assert list(exports.export_rows(request=request, engine="sql")) == list(
        exports.export_rows(request=request, engine="orm")
    )
    # The next refresh rebuilds it; in December the table moves to December's window, and November's
    # list is computed live again (same rows either way).
    dashboard_aggregates_refresh(start=dt.date(2026, 11, 1), end=dt.date(2026, 11, 1))
    assert served_most_held(request)
    monkeypatch.setattr(analytics_dashboard, "served_most_month", lambda: dt.date(2026, 12, 1))
    dashboard_aggregates_refresh(start=dt.date(2026, 12, 1), end=dt.date(2026, 12, 1))
    assert list(ServedMostWindow.objects.values_list("month", flat=True)) == [dt.date(2026, 12, 1)]
    assert not served_most_held(request)
    assert list(exports.export_rows(request=request, engine="sql")) == list(
        exports.export_rows(request=request, engine="orm")
    )
