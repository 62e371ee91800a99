"""Real Chromium enforces our Content-Security-Policy: the pages must work with no violation."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_pages_raise_no_csp_violation_in_chromium(page, browser_login, manager, screenshot):
    violations = []
    page.on("console", lambda msg: "Content Security Policy" in msg.text and violations.append(msg.text))
    page.goto("/accounts/login/")
    browser_login(manager)
    for path in ["/", "/customers/", "/accounts/two-factor/"]:
        page.goto(path)
        page.wait_for_load_state("networkidle")
    screenshot("two-factor-setup")
    # The language switcher's JS (a static file) still works under the policy.
    with page.expect_navigation():  # the switcher's script submits the form on change
        page.select_option("#language-select", "fa")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert violations == []
