"""A manager uploads a till export in a real browser and watches it through preview to the summary."""

import pytest

from customers.models import PurchaseTicket
from tests.customers.conftest import csv_bytes, sale


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_manager_imports_a_file_with_a_bad_row_through_the_screens(
    store, manager, browser_login, page, screenshot, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CELERY_TASK_ALWAYS_EAGER = True  # the embedded default: the task runs in the request
    from crm.celery import app

    app.conf.task_always_eager = True
    try:
        path = tmp_path / "till-export.csv"
        rows = [sale(f"T{i}", customer_card=f"C{i % 3}") for i in range(8)] + [sale("BAD", total="12,3,4")]
        path.write_bytes(csv_bytes(rows, delimiter=";"))
        browser_login(manager)
        page.goto("/customers/imports/")
        page.set_input_files("input[type=file]", str(path))
        page.click("[data-testid=upload-form] button[type=submit]")
        page.wait_for_selector("[data-testid=preview]")
        assert "12,3,4" in page.inner_text("[data-testid=preview]")
        assert page.inner_text("[data-testid=errors] tbody td").strip() == "10"  # the bad row's line number
        screenshot("import-preview")
        page.click("[data-testid=confirm]")
        page.wait_for_selector("[data-testid=summary]")
        screenshot("import-summary")
        assert PurchaseTicket.objects.count() == 8
        page.goto("/customers/imports/")
        assert "till-export.csv" in page.inner_text("[data-testid=import-history]")
    finally:
        app.conf.task_always_eager = False
