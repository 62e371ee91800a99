"""A member of staff opens My notes in headless Chromium, prints the task sheet, ticks two notes as posted."""

import subprocess
from decimal import Decimal

import pytest

from outreach.notes import notes_queue
from outreach.notes_models import CampaignKind, IncentiveKind, Note, NoteStatus
from tests.conftest import ARTIFACTS, AS_OF

from .notes_helpers import best, campaign, consenting, lapsed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_opens_my_notes_prints_and_ticks_two_notes_as_posted(store, staff, manager, browser_login, screenshot):
    thanks = [consenting(store, first_name=n, last_name="Karimov") for n in ("Jasur", "Aziz", "Nodira", "Olim")]
    for rank, c in enumerate(thanks, start=1):
        best(c, rank=rank)
    for name in ("Elena", "Mariam"):
        lapsed(
            consenting(
                store, first_name=name, last_name="Petrova", preferred_language="ru" if name == "Elena" else "fa"
            )
        )
    campaign(CampaignKind.THANK_YOU)
    campaign(CampaignKind.WIN_BACK, incentive_kind=IncentiveKind.AMOUNT, incentive_amount=Decimal("50000"))
    notes_queue(as_of=AS_OF)
    mine = Note.objects.filter(assigned_to=staff).count()
    assert mine >= 2

    page = browser_login(staff)
    badge = page.locator("[data-testid=my-notes-badge]")
    assert str(mine) in badge.inner_text()
    badge.click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "My notes"
    assert f"0 of {mine} posted" in page.locator("[data-testid=progress]").inner_text()
    screenshot("my-notes-before")

    with page.expect_download() as download_info:
        page.click("[data-layout=sheet]")
    pdf = ARTIFACTS / "my-notes-sheet.pdf"
    ARTIFACTS.mkdir(exist_ok=True)
    download_info.value.save_as(pdf)
    text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    for note in Note.objects.filter(assigned_to=staff).select_related("customer"):
        assert note.customer.full_name in text
    assert Note.objects.filter(status=NoteStatus.QUEUED).count() == Note.objects.count()  # printing changed nothing

    rows = page.locator(".note-row")
    first, second = rows.nth(0).get_attribute("data-note"), rows.nth(1).get_attribute("data-note")
    page.check(f"#note-{first}")
    page.check(f"#note-{second}")
    page.click("[data-testid=bulk-posted]")
    page.wait_for_load_state()

    assert f"2 of {mine} posted" in page.locator("[data-testid=progress]").inner_text()
    assert set(Note.objects.filter(status=NoteStatus.POSTED).values_list("pk", flat=True)) == {int(first), int(second)}
    screenshot("my-notes-after")


def test_manager_previews_a_campaign_then_queues_and_sees_the_store_notes(
    store, staff, manager, browser_login, screenshot
):
    people = [consenting(store, first_name=n, last_name="Saidova") for n in ("Gulnora", "Dilshod", "Kamola")]
    people.append(consenting(store, first_name="Nobody", consent_post=False, consent_email=False))
    for c in people:
        lapsed(c, scope_key=f"store:{store.pk}")
    win_back = campaign(
        CampaignKind.WIN_BACK,
        name="We miss you",
        store=store,
        incentive_kind=IncentiveKind.PERCENT,
        incentive_percent=15,
    )

    page = browser_login(manager)
    page.goto(f"/notes/campaigns/{win_back.pk}/")
    preview = page.locator("[data-testid=preview]").inner_text()
    assert "no consent" in preview and "Gulnora" in preview
    screenshot("campaign-preview")
    page.click("text=Queue these notes")
    page.wait_for_load_state()
    assert "3 notes queued" in page.locator(".alert").first.inner_text()
    page.goto("/notes/store/")
    assert page.locator("tr[data-note]").count() == 3
    screenshot("store-notes")
    page.goto(f"/notes/campaigns/{win_back.pk}/edit/")
    screenshot("campaign-form")
