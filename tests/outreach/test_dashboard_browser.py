"""Dashboard and exports in real Chromium: the charts follow the date range, the XLSX downloads."""

import pytest
from openpyxl import load_workbook

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _canvas_state(page):
    canvas = page.locator("[data-testid=chart-visits]")
    canvas.wait_for()
    page.wait_for_function("document.getElementById('chart-visits').dataset.rendered === 'true'")
    return canvas.get_attribute("data-points"), canvas.get_attribute("data-total")


def test_manager_changes_the_date_range_and_the_charts_re_render(
    page, browser_login, manager, refreshed_history, screenshot
):
    browser_login(manager)
    page.goto("/dashboard/?start=2026-10-01&end=2026-10-31")
    page.locator("[data-testid=nav] [data-nav=dashboard]").wait_for()
    before = _canvas_state(page)
    rows_before = page.locator("[data-testid=visits-table] tbody tr").count()
    page.fill("#id_start", "2026-05-01")
    page.click("[data-testid=apply-filter]")
    page.wait_for_url("**start=2026-05-01**")
    after = _canvas_state(page)
    assert after != before and int(after[0]) > int(before[0])
    page.get_by_role("button", name="Table").first.click()
    table = page.locator("[data-testid=visits-table]")
    table.wait_for(state="visible")
    assert table.locator("tbody tr").count() > rows_before
    assert page.locator("[data-testid=kpi-crr]").inner_text().strip() != ""
    screenshot("dashboard-1280")
    page.set_viewport_size({"width": 800, "height": 1280})  # a 10-inch tablet, portrait
    page.reload()
    _canvas_state(page)
    screenshot("dashboard-tablet-800")


def test_owner_downloads_the_best_customer_xlsx_and_opens_it(
    page, browser_login, owner, refreshed_history, media_root, screenshot, tmp_path
):
    from celery.contrib.testing.worker import start_worker

    from crm.celery import app
    from outreach.services import segments_refresh
    from tests.conftest import AS_OF

    segments_refresh(store=None, as_of=AS_OF.date(), now=AS_OF)  # best customers come from the segmentation
    browser_login(owner)
    page.goto("/dashboard/exports/")
    page.select_option("#id_segment", "best")
    page.fill("#id_top", "3")
    page.fill("#id_as_of", "2026-11-01")
    page.select_option("#id_format", "xlsx")
    with start_worker(app, perform_ping_check=False, pool="solo", loglevel="WARNING", shutdown_timeout=30):
        page.click("[data-testid=export-form] button[type=submit]")
        link = page.locator("[data-testid=job-download]:not(.d-none)")
        link.wait_for(state="visible", timeout=30_000)
    screenshot("export-job-done")
    with page.expect_download() as info:
        link.click()
    path = tmp_path / "best.xlsx"
    info.value.save_as(path)
    ws = load_workbook(path).active
    assert ws.max_row == 4  # header + top 3
    assert ws.cell(row=2, column=1).value == refreshed_history["best"].card_number


def test_staff_are_refused_the_dashboard_and_exports(page, browser_login, staff):
    browser_login(staff)
    assert page.locator("[data-testid=nav] [data-nav=dashboard]").count() == 0
    for url in ("/dashboard/", "/dashboard/exports/"):
        response = page.goto(url)
        assert response.status == 403


def test_manager_sees_the_campaign_results_and_notes_pipeline_charts_and_their_tables(
    page, browser_login, manager, store, staff, refreshed_history, screenshot
):
    import datetime as dt
    from decimal import Decimal

    from outreach.notes_models import CampaignKind, NoteStatus
    from outreach.results import campaign_results_refresh
    from tests.factories import CustomerFactory, TicketFactory

    from .notes_helpers import campaign
    from .test_dashboard_outreach import NOW, T0, _held, _note, _sale

    camp = campaign(CampaignKind.WIN_BACK, name="Win-back autumn", cost_per_note=Decimal("2.00"))
    for i in range(4):
        c = CustomerFactory(home_store=store)
        note = _note(c, camp, store, posted_at=T0, assigned_to=staff)
        if i < 2:
            _sale(c, store, T0 + dt.timedelta(days=4))
        if i == 0:  # and came back once more, with the note's card
            TicketFactory(
                customer=c,
                store=store,
                purchased_at=T0 + dt.timedelta(days=9),
                total=Decimal("75.00"),
                return_code=note.return_code,
            )
    _held(CustomerFactory(home_store=store), camp, store)
    _note(CustomerFactory(home_store=store), camp, store, status=NoteStatus.QUEUED, assigned_to=staff)
    campaign_results_refresh(now=NOW)

    browser_login(manager)
    page.goto("/dashboard/?start=2026-08-01&end=2026-09-30")
    for chart in ("chart-campaigns", "chart-pipeline"):
        page.wait_for_function(f"document.getElementById('{chart}').dataset.rendered === 'true'")
    page.locator("[aria-controls=campaigns-table]").click()
    table = page.locator("[data-testid=campaigns-table]")
    table.wait_for(state="visible")
    assert "Win-back autumn" in table.inner_text() and "50.0%" in table.inner_text()
    attributed = page.locator("[data-testid=campaigns-attributed] li")
    assert attributed.count() == 1 and "Win-back autumn: 1 returned" in attributed.inner_text()
    assert table.locator("[data-testid=attributed-returned]").inner_text() == "1"
    assert table.locator("[data-testid=attributed-revenue]").inner_text() == "75.00"
    full_page = screenshot("dashboard-campaigns")
    page.locator("[data-slot=campaigns]").screenshot(path=str(full_page.with_name("dashboard-campaigns-tile.png")))
    page.locator("[aria-controls=pipeline-table]").click()
    pipeline = page.locator("[data-testid=pipeline-table]")
    pipeline.wait_for(state="visible")
    assert pipeline.locator("tbody tr").count() == 1
