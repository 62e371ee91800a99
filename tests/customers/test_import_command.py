"""`manage.py import_tickets FILE [--dry-run] [--skip-invalid] [--by USERNAME]`."""

import pytest
from django.core.management import CommandError, call_command

from customers.models import ImportBatch, PurchaseTicket
from tests.customers.conftest import csv_bytes, sale

pytestmark = pytest.mark.django_db


@pytest.fixture
def csv_file(tmp_path):
    def _write(rows) -> str:
        path = tmp_path / "tickets.csv"
        path.write_bytes(csv_bytes(rows))
        return str(path)

    return _write


def test_a_clean_file_is_imported_and_summarised(store, csv_file, capsys):
    call_command("import_tickets", csv_file([sale("T1"), sale("T2")]))
    out = capsys.readouterr().out
    assert "inserted 2" in out and "Committed" in out
    assert PurchaseTicket.objects.count() == 2
    batch = ImportBatch.objects.get()
    assert (batch.source, batch.status, batch.rows_total, batch.file_name) == ("cli", "done", 2, "tickets.csv")


def test_any_refused_row_exits_non_zero_and_commits_nothing(store, csv_file, capsys):
    with pytest.raises(CommandError) as failure:
        call_command("import_tickets", csv_file([sale("T1"), sale("T2", total="x")]))
    assert failure.value.returncode == 1
    assert "line 3: total:" in capsys.readouterr().out
    assert PurchaseTicket.objects.count() == 0


def test_skip_invalid_imports_the_good_rows_and_still_exits_non_zero(store, csv_file):
    with pytest.raises(CommandError) as failure:
        call_command("import_tickets", csv_file([sale("T1"), sale("T2", total="x")]), "--skip-invalid")
    assert failure.value.returncode == 1
    assert list(PurchaseTicket.objects.values_list("number", flat=True)) == ["T1"]


def test_dry_run_changes_nothing(store, csv_file, capsys):
    call_command("import_tickets", csv_file([sale("T1")]), "--dry-run")
    assert "would insert 1" in capsys.readouterr().out
    assert PurchaseTicket.objects.count() == 0


def test_by_limits_rows_to_the_users_stores(store, other_store, staff, csv_file):
    with pytest.raises(CommandError):
        call_command("import_tickets", csv_file([sale("T1"), sale("T2", store="YUN")]), "--by", staff.username)
    assert PurchaseTicket.objects.count() == 0


def test_a_missing_file_exits_2(db):
    with pytest.raises(CommandError) as failure:
        call_command("import_tickets", "/nonexistent.csv")
    assert failure.value.returncode == 2
