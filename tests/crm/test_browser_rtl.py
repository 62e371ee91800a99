"""Switching to Persian in the footer turns the whole shell right-to-left (real Chromium)."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _box(page, selector):
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    return box


def test_footer_language_switcher_turns_the_page_right_to_left(browser_login, screenshot, staff):
    page = browser_login(staff)
    width = page.viewport_size["width"]
    assert page.locator("html").get_attribute("dir") == "ltr"
    brand = _box(page, ".navbar-brand")
    assert brand["x"] + brand["width"] < width / 2, "in English the brand sits on the left"

    with page.expect_navigation():
        page.select_option("[data-testid=language-switcher] select", "fa")

    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.locator("html").get_attribute("lang") == "fa"
    assert page.locator("h1").inner_text() == "امروز"
    brand = _box(page, ".navbar-brand")
    logout = _box(page, "form[action$='/logout/'] button")
    assert brand["x"] > width / 2, "in Persian the brand sits on the right"
    assert logout["x"] < brand["x"], "and the log-out button moves to the left"
    screenshot("rtl-today-fa")

    # The choice sticks across pages.
    page.click("[data-nav=customers]")
    assert page.locator("html").get_attribute("dir") == "rtl"
