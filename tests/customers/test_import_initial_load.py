"""Initial-load mode (customers/importers/initial_load.py): a large file into a small table loads without the
table's foreign keys and secondary indexes, re-created before commit — same schema, same guarantees."""

import threading
import time
from io import StringIO

import pytest
import requests
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

from customers.importers import engine_pg, initial_load
from customers.models import ApiToken, Customer, PurchaseTicket
from tests.customers.conftest import csv_bytes, sale
from tests.factories import CustomerFactory, TicketFactory

TABLES = ("customers_customer", "customers_purchaseticket")


@pytest.fixture
def min_rows(monkeypatch):
    """Initial-load mode from 10 rows on (1,000,000-row files are for bench/import_tickets.py)."""
    monkeypatch.setattr(engine_pg, "INITIAL_LOAD_MIN_ROWS", 10)


def schema() -> dict:
    """Every constraint and index on the two tables, and every foreign key pointing at them, as PostgreSQL
    prints them (with validity and deferrability), by name."""
    with connection.cursor() as cur:
        cur.execute(
            """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated, condeferrable,
                      condeferred
               FROM pg_constraint WHERE conrelid = ANY(%s::regclass[]) OR confrelid = ANY(%s::regclass[])""",
            [list(TABLES), list(TABLES)],
        )
        constraints = {(r[0], r[1]): r[2:] for r in cur.fetchall()}
        cur.execute(
            """SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indisvalid, i.indisready
               FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = ANY(%s::regclass[])""",
            [list(TABLES)],
        )
        indexes = {r[0]: r[1:] for r in cur.fetchall()}
    return {"constraints": constraints, "indexes": indexes}


def history(count: int, *, prefix: str = "H") -> list[dict]:
    """A first history load: card holders, emails, phones, anonymous sales and returns of earlier sales."""
    rows = []
    for i in range(count):
        keys = [
            {"customer_card": f"{200000000000 + i % 7}"},
            {"customer_email": f"p{i % 5}@example.test"},
            {"customer_phone": f"+99890{i % 3:07d}"},
            {},
        ][i % 4]
        rows.append(sale(f"{prefix}{i:04d}", **keys))
        if i % 10 == 9:
            rows.append(sale(f"{prefix}R{i:04d}", total="-5.00", return_of=f"{prefix}{i - 1:04d}"))
    return rows


@pytest.mark.django_db
def test_an_initial_load_leaves_the_schema_exactly_as_it_was(store, run_import, min_rows):
    before = schema()
    assert any(v[0].startswith("FOREIGN KEY") for v in before["constraints"].values())
    _, outcome = run_import(csv_bytes(history(40)))
    assert outcome.committed and outcome.initial_load == list(TABLES)
    assert (outcome.inserted, outcome.customers_created) == (44, 15)
    assert schema() == before
    assert PurchaseTicket.objects.filter(original__isnull=False).count() == 4
    assert PurchaseTicket.objects.filter(customer__isnull=True).count() == 14  # 10 anonymous sales, 4 returns
    assert PurchaseTicket.objects.get(number="H0004").customer.card_number == "200000000004"
    assert PurchaseTicket.objects.get(number="H0005").customer.email == "p0@example.test"
    call_command("makemigrations", "--check", "--dry-run", stdout=StringIO())  # SystemExit(1) on any drift


@pytest.mark.django_db
def test_foreign_keys_are_enforced_again_after_an_initial_load(store, run_import, min_rows):
    _, outcome = run_import(csv_bytes(history(20)))
    assert outcome.initial_load
    ticket = PurchaseTicket.objects.first()
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cur.execute("UPDATE customers_purchaseticket SET customer_id = -1 WHERE id = %s", [ticket.pk])
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cur.execute("UPDATE customers_customer SET home_store_id = -1 WHERE id = %s", [Customer.objects.first().pk])


@pytest.mark.django_db
def test_a_row_that_breaks_a_foreign_key_fails_the_validation_and_rolls_everything_back(
    store, run_import, min_rows, monkeypatch
):
    """The set-based VALIDATE catches what the per-row triggers would have: the whole import rolls back,
    dropped constraints and indexes included."""
    before = schema()
    real_insert = engine_pg.PostgresEngine.tickets_insert

    def insert_then_corrupt(self, **kwargs):
        real_insert(self, **kwargs)
        with connection.cursor() as cur:  # as if a bug matched a customer that does not exist
            cur.execute("UPDATE customers_purchaseticket SET customer_id = -1 WHERE number = 'H0000'")

    monkeypatch.setattr(engine_pg.PostgresEngine, "tickets_insert", insert_then_corrupt)
    with pytest.raises(IntegrityError):
        run_import(csv_bytes(history(20)))
    assert PurchaseTicket.objects.count() == 0 and Customer.objects.count() == 0
    assert schema() == before


@pytest.mark.django_db
def test_a_refused_file_rolls_back_without_restoring_and_the_schema_is_intact(store, run_import, min_rows):
    before = schema()
    rows = history(20)
    rows[5]["total"] = "abc"
    _, outcome = run_import(csv_bytes(rows))
    assert not outcome.committed and outcome.error_count == 1
    _, dry = run_import(csv_bytes(history(20)), dry_run=True)
    assert not dry.committed and dry.inserted == 22
    assert PurchaseTicket.objects.count() == 0 and Customer.objects.count() == 0
    assert schema() == before


@pytest.mark.django_db(transaction=True)
def test_an_incremental_import_keeps_the_ordinary_path(store, run_import, min_rows):
    """A table that already holds more rows than the file: no exclusive lock, nothing dropped."""
    for i in range(25):
        TicketFactory(store=store, number=f"OLD{i}", customer=None)
    _, outcome = run_import(csv_bytes(history(20)))
    assert outcome.committed and outcome.initial_load == []
    # Fewer tickets than the file, but more customers than its customer keys: only the tickets table.
    CustomerFactory.create_batch(20, home_store=store)
    _, outcome = run_import(csv_bytes(history(60, prefix="N")))  # 66 rows; 47 tickets, 33 customers before
    assert outcome.committed and outcome.initial_load == ["customers_purchaseticket"]


@pytest.mark.django_db
def test_a_transaction_that_already_wrote_tickets_takes_the_ordinary_path(store, run_import, min_rows):
    """PostgreSQL cannot alter a table with pending deferred FK checks: the import falls back, still all in."""
    TicketFactory(store=store, number="EARLIER", customer=None)
    before = schema()
    _, outcome = run_import(csv_bytes(history(20)))
    assert outcome.committed and outcome.initial_load == [] and outcome.inserted == 22
    assert schema() == before


@pytest.mark.django_db
def test_a_small_file_never_takes_the_exclusive_lock(store, run_import):
    assert initial_load.INITIAL_LOAD_MIN_ROWS >= 10_000
    _, outcome = run_import(csv_bytes(history(20)))
    assert outcome.committed and outcome.initial_load == []


@pytest.mark.django_db(transaction=True)
def test_an_api_ticket_posted_during_an_initial_load_waits_then_succeeds(
    live_server, store, run_import, min_rows, monkeypatch
):
    _, token = ApiToken.issue(store=store, name="Till 1")
    locked, release = threading.Event(), threading.Event()
    real_restore = initial_load.InitialLoad.restore

    def paused_restore(self, cur):
        locked.set()  # tables locked and stripped, rows inserted, not committed
        assert release.wait(30)
        real_restore(self, cur)

    monkeypatch.setattr(initial_load.InitialLoad, "restore", paused_restore)
    outcome: dict = {}

    def run():
        try:
            outcome["import"] = run_import(csv_bytes(history(40)))[1]
        finally:
            connection.close()

    def post():
        outcome["api"] = requests.post(
            live_server.url + "/api/v1/tickets/",
            json={**sale("API-1"), "customer_card": "200000000003"},
            headers={"Authorization": f"Token {token}"},
            timeout=60,
        )

    importer = threading.Thread(target=run)
    importer.start()
    assert locked.wait(30)
    till = threading.Thread(target=post)
    till.start()
    time.sleep(1.5)
    assert till.is_alive(), "the POST should wait for the import's lock"
    release.set()
    importer.join(60)
    till.join(60)
    assert outcome["import"].committed and outcome["import"].initial_load == list(TABLES)
    assert outcome["api"].status_code == 201, outcome["api"].text
    assert PurchaseTicket.objects.count() == 45
    # The API matched the card the import created: the import's customers were visible to it once committed.
    assert PurchaseTicket.objects.get(number="API-1").customer.card_number == "200000000003"
    assert Customer.objects.filter(card_number="200000000003").count() == 1
