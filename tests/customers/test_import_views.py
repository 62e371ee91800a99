"""The import screens: upload → check → preview → confirm → import → summary, the error report, API tokens."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from customers.importers_tasks import tickets_import_task
from customers.models import ApiToken, ImportBatch, PurchaseTicket
from tests.customers.conftest import csv_bytes, sale

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def upload(client, data: bytes, name: str = "day.csv") -> ImportBatch:
    response = client.post(reverse("customers:imports"), {"file": SimpleUploadedFile(name, data, "text/csv")})
    assert response.status_code == 302
    batch = ImportBatch.objects.latest("pk")
    assert response["Location"] == batch.get_absolute_url()
    # The broker is real Redis with no worker in the suite: run the task body as the worker would.
    tickets_import_task(batch.pk)
    batch.refresh_from_db()
    return batch


def test_upload_shows_a_preview_and_imports_only_after_confirmation(store, staff, login):
    client = login(staff)
    batch = upload(client, csv_bytes([sale("T1", customer_email="a@example.test"), sale("T2")], delimiter=";"))
    assert batch.status == ImportBatch.Status.PREVIEWED and PurchaseTicket.objects.count() == 0
    page = client.get(batch.get_absolute_url()).content.decode()
    assert "Import 2 rows" in page and "<code>;</code>" in page and "T1" in page
    assert client.post(reverse("customers:import_confirm", args=[batch.pk])).status_code == 302
    tickets_import_task(batch.pk)
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.DONE
    assert (batch.inserted, batch.duplicates, batch.customers_created) == (2, 0, 1)
    assert PurchaseTicket.objects.count() == 2
    assert not batch.file and batch.preview.get("rows") is None  # the file (personal data) is gone
    summary = client.get(batch.get_absolute_url()).content.decode()
    assert "tickets inserted" in summary
    history = client.get(reverse("customers:imports")).content.decode()
    assert "day.csv" in history


def test_a_file_with_bad_rows_lists_them_and_offers_the_good_rows_only(store, other_store, staff, login):
    client = login(staff)
    rows = [sale("T1"), sale("T2", total="abc"), sale("T3", store="YUN"), sale("T4")]
    batch = upload(client, csv_bytes(rows))
    assert batch.error_count == 2
    page = client.get(batch.get_absolute_url()).content.decode()
    assert "Import the 2 good rows, skip the 2 refused" in page
    assert "You may not import tickets for store YUN." in page  # staff of CHZ only
    # A plain confirm is refused; the good-rows button imports two tickets.
    client.post(reverse("customers:import_confirm", args=[batch.pk]))
    assert ImportBatch.objects.get(pk=batch.pk).status == ImportBatch.Status.PREVIEWED
    client.post(reverse("customers:import_confirm", args=[batch.pk]), {"skip_invalid": "1"})
    tickets_import_task(batch.pk)
    assert sorted(PurchaseTicket.objects.values_list("number", flat=True)) == ["T1", "T4"]
    report = client.get(reverse("customers:import_errors", args=[batch.pk]))
    lines = list(csv.reader(io.StringIO(report.content.decode("utf-8-sig"))))
    assert lines[0] == ["line", "column", "level", "reason"]
    assert [(r[0], r[1]) for r in lines[1:]] == [("3", "total"), ("4", "store")]


def test_progress_endpoint_reports_status_and_rows(store, staff, login):
    client = login(staff)
    batch = upload(client, csv_bytes([sale("T1")]))
    progress = client.get(reverse("customers:import_progress", args=[batch.pk])).json()
    assert progress["status"] == "previewed" and progress["finished"] and progress["rows_total"] == 1


def test_an_unreadable_file_is_refused_with_a_reason(store, staff, login):
    batch = upload(login(staff), b"what,is,this\n1,2,3\n")
    assert batch.status == ImportBatch.Status.REFUSED and "missing" in batch.file_error


def test_cancel_deletes_the_file_and_imports_nothing(store, staff, login):
    client = login(staff)
    batch = upload(client, csv_bytes([sale("T1")]))
    client.post(reverse("customers:import_cancel", args=[batch.pk]))
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.CANCELLED and not batch.file
    tickets_import_task(batch.pk)  # a late task run changes nothing
    assert PurchaseTicket.objects.count() == 0


def test_manager_creates_a_token_sees_the_key_once_and_revokes_it(store, manager, login):
    client = login(manager)
    response = client.post(reverse("customers:api_tokens"), {"store": store.pk, "name": "Till 2"})
    key = response.context["new_key"]
    assert key.startswith("rg_") and key.encode() in response.content
    token = ApiToken.objects.get()
    assert ApiToken.find_active(key) == token
    assert key.encode() not in client.get(reverse("customers:api_tokens")).content
    client.post(reverse("customers:api_token_revoke", args=[token.pk]))
    assert ApiToken.find_active(key) is None


def test_a_manager_cannot_create_a_token_for_another_store(store, other_store, manager, login):
    response = login(manager).post(reverse("customers:api_tokens"), {"store": other_store.pk, "name": "X"})
    assert response.status_code == 200 and "store" in response.context["form"].errors
    assert ApiToken.objects.count() == 0
