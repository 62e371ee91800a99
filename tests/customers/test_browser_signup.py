"""In headless Chromium at tablet size: a customer signs up on the kiosk, staff then find them by a misspelled name
and, when she brings back a note card, by its return code."""

import re

import pytest

from customers.models import ConsentEvent, Customer
from tests.outreach.notes_helpers import coded_note

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TABLET = {"width": 1024, "height": 768}


def test_a_customer_signs_up_on_the_tablet_and_staff_find_them_by_a_misspelled_name(
    page, browser_login, screenshot, staff, store
):
    page.set_viewport_size(TABLET)
    browser_login(staff)
    page.click("[data-testid=signup-button]")
    page.fill("input[name=pin]", "4817")
    page.fill("input[name=pin_again]", "4817")
    screenshot("kiosk-start")
    page.click("#submit-id-submit")

    # Kiosk mode: no navigation, five questions.
    page.wait_for_selector("[data-testid=signup-form]")
    assert page.locator("[data-testid=nav]").count() == 0
    screenshot("kiosk-signup-empty")
    page.fill("input[name=name]", "Dilfuza Ergasheva")
    page.fill("input[name=city]", "Toshkent")
    page.fill("input[name=contact]", "90 222 33 44")
    page.check("input[name=consent_post]")
    page.check("input[name=consent_sms]")
    page.click("#submit-id-submit")

    page.wait_for_selector("[data-testid=welcome]")
    customer = Customer.objects.get()
    assert page.locator("[data-testid=card-number]").inner_text() == customer.card_number
    assert page.locator("[data-testid=card-barcode] svg").count() == 1
    assert page.locator("[data-testid=card-qr] svg").count() == 1
    screenshot("kiosk-done")
    assert set(ConsentEvent.objects.values_list("channel", flat=True)) == {"post", "sms"}

    # The next customer gets an empty form; the tablet is not logged in as staff.
    page.click("[data-testid=next-customer]")
    assert page.locator("input[name=name]").input_value() == ""
    page.goto("/customers/")
    assert "/accounts/login/" in page.url

    # Staff leave the kiosk with the PIN and search with a typo.
    page.goto("/customers/kiosk/exit/")
    page.fill("input[name=pin]", "4817")
    screenshot("kiosk-exit")
    page.click("#submit-id-submit")
    page.wait_for_url(re.compile(r"/$"))
    page.fill("#q", "Dilfuza Ergashova")
    page.press("#q", "Enter")
    page.wait_for_selector("[data-testid=results]")
    first = page.locator("[data-testid=results] tbody tr").first
    assert "Dilfuza Ergasheva" in first.inner_text()
    screenshot("search-misspelled")
    first.locator("a").click()
    page.wait_for_selector("[data-testid=customer-name]")
    assert page.locator("[data-testid=customer-name]").inner_text() == "Dilfuza Ergasheva"
    screenshot("customer-page-new")

    # Weeks later she brings back a win-back note card: staff type its return code into the same search.
    coded_note(customer, store=store, code="K7WB3Q")
    page.goto("/")
    page.fill("#q", "k7w-b3q")
    page.press("#q", "Enter")
    page.wait_for_selector("[data-testid=customer-name]")
    assert page.url.endswith(customer.get_absolute_url())
    assert "Return code K7WB3Q: a note to this customer." in page.locator("main").inner_text()
    screenshot("search-return-code")


def test_screens_at_tablet_size(page, browser_login, screenshot, manager, best_regular, store, as_of):
    """A tour for a person to look at: customer page with a complaint, consent, duplicates, card."""
    from customers import services
    from tests.factories import CustomerFactory

    services.service_note_add(customer=best_regular, text="Prefers morning visits; size M", by=manager)
    services.customer_tags_set(customer=best_regular, names=["size M", "jazz"])
    services.feedback_record(
        customer=best_regular, kind="complaint", reason="pushy", text="The seller kept pushing", at=as_of, by=manager
    )
    services.consent_record(customer=best_regular, channel="email", granted=True, source="store", at=as_of, by=manager)
    CustomerFactory(home_store=store, first_name="Jasur", last_name="Toshmatov", email=best_regular.email)
    page.set_viewport_size(TABLET)
    browser_login(manager)
    for name, url in [
        ("customer-page", best_regular.get_absolute_url()),
        ("customer-consent", f"/customers/{best_regular.pk}/consent/"),
        ("customer-feedback-form", f"/customers/{best_regular.pk}/feedback/new/"),
        ("customer-edit", f"/customers/{best_regular.pk}/edit/"),
        ("customer-card", f"/customers/{best_regular.pk}/card/"),
        ("duplicates", "/customers/duplicates/"),
        ("today", "/"),
    ]:
        page.goto(url)
        assert page.locator("main").count() == 1
        screenshot(f"tablet-{name}")
