"""The ticket import service against PostgreSQL: validation, all-or-nothing, duplicates, returns, customers."""

import datetime as dt
from decimal import Decimal

import pytest

from customers.importers import ImportFileError
from customers.models import Customer, PurchaseTicket
from customers.signals import customer_created, tickets_created
from tests.customers.conftest import csv_bytes, sale
from tests.factories import CustomerFactory, TicketFactory, UserFactory

pytestmark = pytest.mark.django_db


def _thousand_with_25_bad(store, other_store) -> tuple[list[dict], set[int]]:
    """1,000 rows; 25 of them wrong in 25 different ways. Returns the rows and the bad rows' line numbers."""
    rows = [sale(f"T{i:04d}", customer_card=f"C{i % 50:03d}") for i in range(1000)]
    breakers = [
        ("store", "NOPE"),
        ("store", ""),
        ("ticket", ""),
        ("ticket", "x" * 65),
        ("purchased_at", "yesterday"),
        ("purchased_at", "2026-13-01T10:00"),
        ("purchased_at", "2031-01-01T10:00"),
        ("purchased_at", "1999-12-31T10:00"),
        ("purchased_at", ""),
        ("total", "abc"),
        ("total", "12.345"),
        ("total", ""),
        ("total", "1e5"),
        ("items", "-1"),
        ("items", "two"),
        ("customer_card", "no spaces or symbols!"),
        ("customer_email", "not-an-email"),
        ("customer_phone", "12"),
        ("return_of", "DOES-NOT-EXIST"),
        ("return_of", "SELF"),
        ("total", "1.2.3"),
        ("customer_email", "a@b"),
    ]
    bad_lines = set()
    for k, (column, value) in enumerate(breakers):
        i = 10 + k * 37
        rows[i] = dict(rows[i], **{column: value})
        if column == "return_of":
            rows[i]["total"] = "-1.00"
            if value == "SELF":
                rows[i]["return_of"] = rows[i]["ticket"]
        bad_lines.add(i + 2)  # header is line 1
    # A ticket repeated with different content (the later line is refused); an identical repeat is fine.
    rows[900] = dict(rows[100], total="99.00")
    bad_lines.add(902)
    rows[901] = dict(rows[101])
    # A return of a return, and a positive-total return.
    rows[950] = sale("R-950", total="-3.00")
    rows[951] = sale("R-951", total="-3.00", return_of="R-950")
    bad_lines.add(953)
    rows[952] = sale("R-952", total="3.00", return_of="T0001")
    bad_lines.add(954)
    assert len(bad_lines) == 25
    return rows, bad_lines


@pytest.mark.parametrize("engine", ["postgresql", "orm"])
def test_25_bad_rows_in_1000_are_reported_by_line_and_nothing_is_committed(store, other_store, run_import, engine):
    rows, bad_lines = _thousand_with_25_bad(store, other_store)
    _, outcome = run_import(csv_bytes(rows), engine=engine)
    assert not outcome.committed
    assert {e.line for e in outcome.errors} == bad_lines
    assert outcome.error_count == 25 and outcome.refused == 25
    assert all(e.column and e.message for e in outcome.errors)
    assert PurchaseTicket.objects.count() == 0
    assert Customer.objects.count() == 0


def test_skip_invalid_imports_the_975_good_rows(store, other_store, run_import):
    rows, bad_lines = _thousand_with_25_bad(store, other_store)
    _, outcome = run_import(csv_bytes(rows), skip_invalid=True)
    assert outcome.committed
    assert outcome.refused == 25
    # Row 101 repeated identically on line 903: one ticket, counted as a duplicate skipped.
    assert outcome.inserted == 974 and outcome.duplicates == 1
    assert PurchaseTicket.objects.count() == 974


def test_each_error_names_line_column_and_reason(store, run_import):
    rows = [sale("A1"), sale("A2", store="XXX"), sale("A3", total="12,5,0")]
    _, outcome = run_import(csv_bytes(rows))
    assert [(e.line, e.column) for e in outcome.errors] == [(3, "store"), (4, "total")]
    assert "XXX" in outcome.errors[0].message


def test_importing_the_same_file_twice_creates_no_duplicates(store, run_import):
    data = csv_bytes([sale(f"T{i}", customer_email=f"c{i % 3}@example.test") for i in range(20)])
    _, first = run_import(data)
    _, second = run_import(data)
    assert (first.inserted, first.duplicates, first.customers_created) == (20, 0, 3)
    assert (second.inserted, second.duplicates, second.customers_created) == (0, 20, 0)
    assert PurchaseTicket.objects.count() == 20 and Customer.objects.count() == 3


def test_overlapping_files_import_each_ticket_once(store, run_import):
    _, a = run_import(csv_bytes([sale(f"T{i}") for i in range(0, 30)]))
    _, b = run_import(csv_bytes([sale(f"T{i}") for i in range(20, 50)]))
    assert (a.inserted, b.inserted, b.duplicates) == (30, 20, 10)
    assert PurchaseTicket.objects.count() == 50


def test_a_return_is_linked_to_its_original_exactly_once(store, run_import):
    sale_file = csv_bytes([sale("S1", total="40.00", customer_card="C1")])
    return_file = csv_bytes([sale("S1", total="40.00", customer_card="C1"), sale("R1", total="-15.00", return_of="S1")])
    run_import(sale_file)
    _, first = run_import(return_file)
    _, again = run_import(return_file)
    original = PurchaseTicket.objects.get(number="S1")
    assert first.inserted == 1 and again.inserted == 0
    assert list(original.returns.values_list("number", "total", "is_return")) == [("R1", Decimal("-15.00"), True)]


def test_a_return_in_the_same_file_as_its_sale_is_linked(store, run_import):
    # The return comes first in the file: order does not matter.
    run_import(csv_bytes([sale("R1", total="-5.00", return_of="S1"), sale("S1", total="40.00")]))
    assert PurchaseTicket.objects.get(number="R1").original == PurchaseTicket.objects.get(number="S1")


def test_a_negative_total_without_return_of_is_an_unlinked_return(store, run_import):
    run_import(csv_bytes([sale("R9", total="-7.50")]))
    ticket = PurchaseTicket.objects.get(number="R9")
    assert ticket.is_return and ticket.original is None


def test_bom_semicolon_and_decimal_comma_are_understood(store, run_import):
    data = csv_bytes([sale("T1", total="1.234,50"), sale("T2", total="12,5")], delimiter=";", bom=True)
    source, outcome = run_import(data)
    assert source.delimiter == ";" and outcome.decimal_mark == ","
    assert outcome.error_count == 0
    assert sorted(PurchaseTicket.objects.values_list("total", flat=True)) == [Decimal("12.50"), Decimal("1234.50")]


def test_columns_in_any_order_and_unknown_columns_are_ignored(store, run_import):
    data = b"Total,till_operator_note,STORE,purchased_at,ticket\n12.00,hello,chz,2026-10-01 10:00,X1\n"
    _, outcome = run_import(data)
    assert outcome.inserted == 1
    assert PurchaseTicket.objects.get().items == 1


def test_a_naive_time_is_in_the_stores_time_zone_and_an_offset_is_kept(store, run_import):
    run_import(csv_bytes([sale("N1", at="2026-10-01T10:00:00"), sale("Z1", at="2026-10-01T10:00:00Z")]))
    tashkent = PurchaseTicket.objects.get(number="N1").purchased_at
    utc = PurchaseTicket.objects.get(number="Z1").purchased_at
    assert tashkent == dt.datetime(2026, 10, 1, 5, 0, tzinfo=dt.UTC)  # Asia/Tashkent is UTC+5
    assert utc == dt.datetime(2026, 10, 1, 10, 0, tzinfo=dt.UTC)


def test_customers_are_matched_by_card_then_email_then_phone(store, run_import):
    by_card = CustomerFactory(home_store=store, email="card@example.test", phone="+998901111111")
    by_email = CustomerFactory(home_store=store, email="mail@example.test", phone="+998902222222")
    by_phone = CustomerFactory(home_store=store, email="phone@example.test", phone="+998903333333")
    rows = [
        # The card wins over an email and phone that belong to someone else.
        sale("T1", customer_card=by_card.card_number, customer_email="MAIL@example.test", customer_phone="903333333"),
        # An unknown card falls through to the email.
        sale("T2", customer_card="", customer_email="Mail@Example.test", customer_phone="90 333 33 33"),
        # Phone written locally, normalised with the store's country (UZ).
        sale("T3", customer_phone="90 333 33 33"),
    ]
    _, outcome = run_import(csv_bytes(rows))
    assert outcome.customers_created == 0
    got = dict(PurchaseTicket.objects.values_list("number", "customer_id"))
    assert got == {"T1": by_card.pk, "T2": by_email.pk, "T3": by_phone.pk}


def test_unknown_card_email_or_phone_creates_a_customer_marked_details_missing(store, run_import):
    rows = [
        sale("T1", customer_card="2000000000015", customer_email="new@example.test"),
        sale("T2", customer_email="new@example.test"),  # the same person as T1, found by the new email
        sale("T3", customer_phone="+998 90 555 44 33"),
        sale("T4", customer_phone="905554433"),
    ]
    _, outcome = run_import(csv_bytes(rows))
    assert outcome.customers_created == 2
    by_card = Customer.objects.get(card_number="2000000000015")
    by_phone = Customer.objects.get(phone="+998905554433")
    for c in (by_card, by_phone):
        assert c.details_missing and c.home_store == store and c.first_name == ""
    assert len(by_phone.card_number) == 13 and by_phone.card_number.startswith("2")
    got = dict(PurchaseTicket.objects.values_list("number", "customer_id"))
    assert got == {"T1": by_card.pk, "T2": by_card.pk, "T3": by_phone.pk, "T4": by_phone.pk}


def test_a_row_without_card_email_or_phone_is_an_anonymous_sale(store, run_import):
    _, outcome = run_import(csv_bytes([sale("A1")]))
    assert outcome.customers_created == 0
    ticket = PurchaseTicket.objects.get()
    assert ticket.customer is None and ticket.store == store


def test_staff_is_matched_by_username_and_an_unknown_one_is_only_a_warning(store, staff, run_import):
    _, outcome = run_import(csv_bytes([sale("T1", staff=staff.username), sale("T2", staff="ghost")]))
    assert outcome.error_count == 0 and outcome.committed
    assert [w.line for w in outcome.warnings] == [3]
    assert dict(PurchaseTicket.objects.values_list("number", "served_by")) == {"T1": staff.pk, "T2": None}


def test_rows_for_a_store_the_user_does_not_work_in_are_errors(store, other_store, run_import):
    rows = [sale("T1"), sale("T2", store="YUN")]
    _, outcome = run_import(csv_bytes(rows), allowed_store_ids={store.pk})
    assert [(e.line, e.column) for e in outcome.errors] == [(3, "store")]
    assert PurchaseTicket.objects.count() == 0


def test_a_ticket_already_in_the_database_is_a_duplicate_not_an_error(store, run_import):
    TicketFactory(store=store, number="OLD-1", customer=None)
    _, outcome = run_import(csv_bytes([sale("OLD-1", total="99.00"), sale("NEW-1")]))
    assert (outcome.error_count, outcome.inserted, outcome.duplicates) == (0, 1, 1)


def test_a_return_of_a_ticket_imported_earlier_is_linked(store, run_import):
    earlier = TicketFactory(store=store, number="OLD-2", customer=None)
    run_import(csv_bytes([sale("R2", total="-1.00", return_of="OLD-2")]))
    assert PurchaseTicket.objects.get(number="R2").original == earlier


def test_both_engines_give_the_same_result_on_the_same_file(store, other_store, staff, run_import):
    known = CustomerFactory(home_store=store, email="known@example.test", phone="+998901112233")
    rows = [
        sale("S1", customer_card=known.card_number, staff=staff.username),
        sale("S2", customer_email="KNOWN@example.test", total="10,50"),
        sale("S3", customer_phone="901112233", at="2026-10-02T23:30:00"),
        sale("S4", customer_card="C-NEW-1".replace("-", ""), customer_email="n1@example.test"),
        sale("S5", customer_email="n1@example.test"),
        sale("S6", customer_phone="+998907776655"),
        sale("S7"),
        sale("R1", total="-2.00", return_of="S1"),
        sale("R2", total="-2.00"),
        sale("S1", customer_card=known.card_number, staff=staff.username),  # identical repeat
        sale("S8", store="YUN", customer_email="n2@example.test", at="2026-10-03T08:00:00+02:00"),
        sale("BAD", total="x"),
        sale("R3", total="-1.00", return_of="NONE"),
    ]
    data = csv_bytes(rows)

    def snapshot():
        tickets = sorted(
            PurchaseTicket.objects.values_list(
                "store__code",
                "number",
                "purchased_at",
                "total",
                "items",
                "served_by_id",
                "is_return",
                "original__number",
                "customer__email",
                "customer__phone",
                "customer__details_missing",
            )
        )
        customers = sorted(Customer.objects.values_list("email", "phone", "home_store__code", "details_missing"))
        return tickets, customers

    _, pg = run_import(data, skip_invalid=True, engine="postgresql")
    pg_state = snapshot()
    PurchaseTicket.objects.filter(is_return=True).delete()
    PurchaseTicket.objects.all().delete()
    Customer.objects.exclude(pk=known.pk).delete()
    _, orm = run_import(data, skip_invalid=True, engine="orm")
    assert snapshot() == pg_state
    summary = lambda o: (o.rows, o.inserted, o.duplicates, o.customers_created, o.error_count, o.refused)  # noqa: E731
    assert summary(pg) == summary(orm) == (13, 10, 1, 3, 2, 2)
    assert [(e.line, e.column) for e in pg.errors] == [(e.line, e.column) for e in orm.errors]


def test_signals_are_sent_after_commit_with_the_new_ids(store, run_import, django_capture_on_commit_callbacks):
    seen_tickets, seen_customers = [], []

    def on_tickets(sender, ticket_ids, **kw):
        seen_tickets.extend(ticket_ids)

    def on_customer(sender, customer_id, source, **kw):
        seen_customers.append((customer_id, source))

    tickets_created.connect(on_tickets)
    customer_created.connect(on_customer)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            run_import(csv_bytes([sale("T1", customer_email="s@example.test"), sale("T2")]))
        with django_capture_on_commit_callbacks(execute=True):
            run_import(csv_bytes([sale("T1", customer_email="s@example.test")]))  # nothing new: nothing sent
    finally:
        tickets_created.disconnect(on_tickets)
        customer_created.disconnect(on_customer)
    assert sorted(seen_tickets) == sorted(PurchaseTicket.objects.values_list("pk", flat=True))
    assert seen_customers == [(Customer.objects.get().pk, "import")]


def test_a_refused_import_sends_no_signal(store, run_import, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        run_import(csv_bytes([sale("T1", customer_email="s@example.test"), sale("T2", total="bad")]))
    assert callbacks == []


def test_a_file_without_the_required_columns_is_refused_as_a_whole(store, run_import):
    with pytest.raises(ImportFileError, match="purchased_at"):
        run_import(b"store,ticket,total\nCHZ,1,2.00\n")


def test_a_file_that_is_not_utf8_is_refused_as_a_whole(store, run_import):
    data = "store,ticket,purchased_at,total\nCHZ,Café,2026-10-01T10:00,1.00\n".encode("latin-1")
    with pytest.raises(ImportFileError, match="UTF-8"):
        run_import(data)


def test_a_dry_run_predicts_the_outcome_and_commits_nothing(store, run_import):
    _, outcome = run_import(csv_bytes([sale("T1", customer_email="d@example.test"), sale("T2")]), dry_run=True)
    assert (outcome.inserted, outcome.customers_created, outcome.committed) == (2, 1, False)
    assert PurchaseTicket.objects.count() == 0 and Customer.objects.count() == 0


def test_inactive_user_is_not_matched_as_staff(store, run_import):
    UserFactory(username="gone", is_active=False)
    _, outcome = run_import(csv_bytes([sale("T1", staff="gone")]))
    assert PurchaseTicket.objects.get().served_by is None and len(outcome.warnings) == 1


def test_a_big_import_hands_its_signals_to_tasks_each_id_once(
    store, run_import, django_capture_on_commit_callbacks, monkeypatch
):
    """Above the inline limit the signals go out from Celery tasks (eager here), chunk by chunk, each id once."""
    from celery import current_app
    from celery.signals import task_prerun

    from customers.importers import service

    monkeypatch.setattr(service, "ANNOUNCE_INLINE_MAX", 3)
    monkeypatch.setattr(service, "SIGNAL_CHUNK", 4)
    monkeypatch.setattr(current_app.conf, "task_always_eager", True)
    seen_tickets, seen_customers = [], []

    def on_tickets(sender, ticket_ids, **kw):
        seen_tickets.append(list(ticket_ids))

    def on_customer(sender, customer_id, source, **kw):
        seen_customers.append((customer_id, source))

    tasks = []

    def on_task(sender=None, **kw):
        if sender.name.startswith("customers."):
            tasks.append(sender.name)

    tickets_created.connect(on_tickets)
    customer_created.connect(on_customer)
    task_prerun.connect(on_task)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            run_import(csv_bytes([sale(f"T{i}", customer_email=f"p{i % 2}@example.test") for i in range(10)]))
    finally:
        tickets_created.disconnect(on_tickets)
        customer_created.disconnect(on_customer)
        task_prerun.disconnect(on_task)
    # The importer publishes one plan (the new ids as runs); the plan queues one task per chunk:
    # one chunk of customers, three of tickets.
    assert tasks == ["customers.tickets_announce_plan"] + ["customers.tickets_announce"] * 4
    assert [len(c) for c in seen_tickets] == [4, 4, 2]
    assert sorted(i for c in seen_tickets for i in c) == sorted(PurchaseTicket.objects.values_list("pk", flat=True))
    assert sorted(seen_customers) == sorted((pk, "import") for pk in Customer.objects.values_list("pk", flat=True))


def test_new_ids_travel_as_runs_and_come_back_as_the_same_chunks():
    from customers.importers.idruns import ids_chunked, ranges_chunked, runs_of

    ids = [3, 4, 5, 9, 10, 12, 13, 14, 15, 16, 17, 30]
    runs = list(runs_of(ids))
    assert runs == [(3, 5), (9, 10), (12, 17), (30, 30)]
    assert list(ids_chunked(runs, 4)) == [ids[0:4], ids[4:8], ids[8:12]]
    groups = list(ranges_chunked(runs, 4))
    assert groups == [[(3, 5), (9, 9)], [(10, 10), (12, 14)], [(15, 17), (30, 30)]]
    assert [[i for lo, hi in g for i in range(lo, hi + 1)] for g in groups] == list(ids_chunked(runs, 4))
    assert list(runs_of([])) == [] and list(ids_chunked([], 4)) == [] and list(ranges_chunked([], 4)) == []


def test_the_announced_runs_hold_exactly_the_new_rows_even_with_gaps(
    store, run_import, django_capture_on_commit_callbacks, monkeypatch
):
    """Ids taken by other sessions in between leave gaps (here every ticket id is 3 apart): the runs the
    big-import hand-off publishes still name exactly the rows this import created, each once."""
    from celery import current_app
    from django.db import connection

    from customers.importers import service

    if connection.vendor != "postgresql":
        pytest.skip("runs come from the PostgreSQL engine's table of new ids")
    with connection.cursor() as cur:
        cur.execute("SELECT pg_get_serial_sequence('customers_purchaseticket', 'id')")
        cur.execute(f"ALTER SEQUENCE {cur.fetchone()[0]} INCREMENT BY 3")  # rolled back with the test
    monkeypatch.setattr(service, "ANNOUNCE_INLINE_MAX", 3)
    monkeypatch.setattr(service, "SIGNAL_CHUNK", 5)
    monkeypatch.setattr(current_app.conf, "task_always_eager", True)
    seen_tickets, seen_customers = [], []

    def on_tickets(sender, ticket_ids, **kw):
        seen_tickets.append(list(ticket_ids))

    def on_customer(sender, customer_id, source, **kw):
        seen_customers.append(customer_id)

    existing = set(PurchaseTicket.objects.values_list("pk", flat=True))
    tickets_created.connect(on_tickets)
    customer_created.connect(on_customer)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            rows = [sale(f"G{i}", customer_email=f"g{i % 3}@example.test") for i in range(12)]
            _, outcome = run_import(csv_bytes(rows + [sale("G1R", total="-1.00", return_of="G1")]))
    finally:
        tickets_created.disconnect(on_tickets)
        customer_created.disconnect(on_customer)
    new = sorted(set(PurchaseTicket.objects.values_list("pk", flat=True)) - existing)
    assert outcome.inserted == len(new) == 13 and new[1] - new[0] == 3
    assert [len(c) for c in seen_tickets] == [5, 5, 3]
    assert [i for c in seen_tickets for i in c] == new
    assert sorted(seen_customers) == sorted(Customer.objects.values_list("pk", flat=True))


def test_both_engines_read_odd_values_alike_with_the_same_messages(store, staff, run_import):
    """engine_pg checks rows in SQL (Python only for rare shapes and phones); rows.RowParser in Python.

    Every value here is one where the two could drift: ISO 8601 shapes, impossible dates, local
    times that happen twice when Berlin's clocks go back, amounts with spaces, NBSP and other
    scripts' digits, emails with odd characters, return codes (Python's upper() reads "ß" as "SS").
    Both engines must accept the same rows with the
    same values, and refuse the others with the same line, column and words.
    """
    from customers.models import Store

    Store.objects.create(code="BER", name="Berlin", time_zone="Europe/Berlin", currency="EUR", country="DE")
    odd = [
        ("purchased_at", "2026-10-01T10:00:00.5"),
        ("purchased_at", "2026-10-01T10:00:00.1234567"),
        ("purchased_at", "2026-10-01 10:00"),
        ("purchased_at", "2026-10-01T10"),
        ("purchased_at", "2026-10-01"),
        ("purchased_at", "2026-10-01T10:00Z"),
        ("purchased_at", "2026-10-01T10:00:00z"),
        ("purchased_at", "2026-10-01T10:00:00+0500"),
        ("purchased_at", "2026-10-01T10:00:00-03:30"),
        ("purchased_at", "2026-10-01T10:00:00+05"),
        ("purchased_at", "20261001T1000"),
        ("purchased_at", "2026-W40-4"),
        ("purchased_at", "2026-10-01T10:00:00,5"),
        ("purchased_at", "2026-02-29T10:00"),
        ("purchased_at", "2024-02-29T10:00"),
        ("purchased_at", "2026-04-31T10:00"),
        ("purchased_at", "2026-10-31T23:59:59"),
        ("purchased_at", "2026-13-01T10:00"),
        ("purchased_at", "2026-10-01T24:00"),
        ("purchased_at", "2026-10-01T10:00:60"),
        ("purchased_at", "1999-12-31T23:59:59+00:00"),
        ("purchased_at", "2000-01-01T04:59:59"),
        ("purchased_at", "2026-11-02T09:00:00Z"),
        ("purchased_at", "2026-11-02T09:00:01Z"),
        ("purchased_at", "٢٠٢٦-10-01T10:00"),
        ("purchased_at", "soon"),
        ("total", "1 234,50"),
        ("total", "1\u00a0234,50"),
        ("total", "1\u202f234,50"),
        ("total", "1,234.5"),
        ("total", "+12"),
        ("total", "١٢٫٥"),
        ("total", "١٢.٥"),
        ("total", "12345678901"),
        ("total", "1234567890.12"),
        ("total", ".5"),
        ("total", "5."),
        ("total", "-0.00"),
        ("items", "٣"),
        ("items", "1234567"),
        ("items", "+3"),
        ("customer_email", "Jürgen@Example.TEST"),
        ("customer_email", "a\x1cb@example.test"),
        ("customer_email", "a b@example.test"),
        ("customer_email", "x@example.c"),
        ("customer_email", "ÀÉ@ÉXAMPLE.DE"),
        ("customer_card", "20 0000 0000 01"),
        ("customer_card", "ABC-1"),
        ("customer_phone", "+49 30 1234567"),
        ("customer_phone", "030 1234567"),
        ("ticket", "tab\there"),
        ("ticket", "back\\slash"),
        ("staff", "ghost"),
        ("staff", "ghost"),
        ("store", "ber"),
        ("store", "xyz"),
        # return codes: no note has any of these, so the well-formed ones are unknown, the others malformed
        ("return_code", "ab-cd 12"),
        ("return_code", "ßßßß"),
        ("return_code", "ﬁﬁ"),
        ("return_code", "１２３４"),
        ("return_code", "abc"),
        ("return_code", "R4F9K!"),
        ("return_code", "A" * 17),
    ]
    rows = [dict(sale(f"O{i:03d}", store="BER"), **{column: value}) for i, (column, value) in enumerate(odd)]
    # Berlin's clocks go back at 03:00 on 2026-10-25 (02:00-03:00 happens twice) and forward on 2026-03-29.
    for i, at in enumerate(
        ["2026-10-25T02:30:00", "2026-10-25T01:59:00", "2026-10-25T03:00:00", "2026-10-25T03:30:00",
         "2026-03-29T02:30:00", "2026-03-29T03:30:00", "2026-03-29T01:30:00"]
    ):  # fmt: skip
        rows.append(sale(f"D{i}", store="BER", at=at))
    rows.append(sale("M1", store="", total="x", items="y", customer_phone="12", return_of="M1", at="later"))
    rows.append(sale("M2", store="BER", total="5", return_of="O001", customer_card="!", customer_email="@"))
    rows.append(sale("M3", store="BER", customer_phone="12", total="-1", return_of="O000"))
    data = csv_bytes(rows)

    def snapshot():
        return sorted(
            PurchaseTicket.objects.values_list(
                "store__code", "number", "purchased_at", "total", "items", "is_return", "customer__email",
                "customer__phone", "customer__card_number",
            )
        )  # fmt: skip

    _, pg = run_import(data, skip_invalid=True, engine="postgresql")
    pg_state = snapshot()
    PurchaseTicket.objects.filter(is_return=True).delete()
    PurchaseTicket.objects.all().delete()
    Customer.objects.all().delete()
    _, orm = run_import(data, skip_invalid=True, engine="orm")
    orm_state = snapshot()
    issues = lambda o: [(e.line, e.column, e.message, e.level) for e in [*o.errors, *o.warnings]]  # noqa: E731
    assert issues(pg) == issues(orm)
    code_messages = [e.message for e in pg.errors if e.column == "return_code"]
    assert sorted(m.split()[-1] for m in code_messages if m.startswith("No note")) == ["ABCD12.", "FIFI.", "SSSSSSSS."]
    assert sum("4 to 16" in m for m in code_messages) == 4
    summary = lambda o: (o.rows, o.inserted, o.error_count, o.refused, o.decimal_mark, o.store_ids)  # noqa: E731
    assert summary(pg) == summary(orm)
    random_cards = lambda s: [r[:-1] + (r[-1] if not r[-1] or not r[-1].startswith("2") else "",) for r in s]  # noqa: E731
    assert random_cards(pg_state) == random_cards(orm_state)
    by_number = {r[1]: r for r in pg_state}
    # The ambiguous 02:30 is the first one (summer time, UTC+2), as Python reads it; the skipped 02:30 is UTC+1.
    assert by_number["D0"][2] == dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC)
    assert by_number["D4"][2] == dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC)
    assert pg.error_count > 20 and pg.inserted > 30


def test_a_ticket_committed_after_the_duplicate_check_is_skipped_not_an_error(store, run_import, monkeypatch):
    """The insert runs without ON CONFLICT (faster); a ticket another import or the API committed after
    this import's duplicate check collides, and the insert is redone in its careful form."""
    from customers.importers.engine_pg import PostgresEngine

    TicketFactory(store=store, number="RACE-1", customer=None)
    monkeypatch.setattr(PostgresEngine, "drop_duplicates", lambda self: None)  # as if RACE-1 came in just after
    _, outcome = run_import(
        csv_bytes([sale("RACE-1", total="99.00"), sale("NEW-1"), sale("R", total="-1", return_of="NEW-1")])
    )
    assert outcome.committed and (outcome.inserted, outcome.duplicates) == (2, 1)
    assert PurchaseTicket.objects.get(number="RACE-1").total != Decimal("99.00")
    assert PurchaseTicket.objects.get(number="R").original.number == "NEW-1"
