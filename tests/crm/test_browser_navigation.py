"""Each role logs in through the real form in headless Chromium and sees its navigation."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("who", ["staff", "manager", "owner"])
def test_each_role_logs_in_and_sees_its_navigation(request, browser_login, screenshot, store, other_store, who):
    user = request.getfixturevalue(who)
    page = browser_login(user)

    assert page.url.endswith("/"), "after login everyone lands on Today"
    assert page.locator("h1").inner_text() == "Today"
    nav = page.locator("[data-testid=nav]")
    assert nav.locator("[data-nav=today]").is_visible()
    assert nav.locator("[data-nav=customers]").is_visible()
    assert user.get_username() in page.locator("[data-testid=whoami]").inner_text()
    # Only someone who works in more than one store gets the store switcher.
    assert page.locator("[data-testid=store-switcher]").count() == (1 if who == "owner" else 0)
    screenshot(f"nav-{who}")


def test_wrong_password_shows_an_error_and_stays_on_login(page, staff):
    page.goto("/accounts/login/")
    page.fill("input[name=username]", staff.get_username())
    page.fill("input[name=password]", "not the password")
    with page.expect_navigation():
        page.click("button[type=submit]")
    page.wait_for_selector(".alert-danger, .invalid-feedback, .errorlist")
    assert "/accounts/login/" in page.url
