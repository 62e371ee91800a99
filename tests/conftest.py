"""Shared fixtures: the PostgreSQL guard, named personas, a fixed clock.

Personas (STYLE.md): ``owner``, ``manager``, ``staff``, ``staff_of_other_store``
for people who use Regulars; ``best_regular``, ``lapsed_regular``,
``two_visit_customer``, ``one_timer`` for customers, each with a visit history
relative to ``AS_OF``.
"""

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings

from customers.models import Role
from tests.factories import TEST_PASSWORD, CustomerFactory, MembershipFactory, StoreFactory, UserFactory, visits

AS_OF = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
"""The fixed "now" of the test suite. Only interfaces call timezone.now()."""


def pytest_configure(config):
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        raise pytest.UsageError(
            f"The test suite runs against PostgreSQL only (got {engine}). Use `make test`, or set "
            "DATABASE_URL=postgres://... ; the embedded SQLite default is covered by the smoke test."
        )
    # Hashing test passwords with PBKDF2 would cost ~0.3 s per user.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _chain_points_held_forgotten():
    """The chain dashboard keeps its stores' points held for a minute under one key (not per store set):
    a test's new stores must not find the last test's figures there."""
    yield
    from django.core.cache import cache

    from outreach.analytics_tiles import points_held_cache_key

    cache.delete(points_held_cache_key(None))


@pytest.fixture(autouse=True)
def _language_reset():
    """A request through the test client leaves its language active: the next test starts in English."""
    yield
    from django.utils import translation

    translation.deactivate()


@pytest.fixture
def as_of() -> dt.datetime:
    return AS_OF


@pytest.fixture
def password() -> str:
    return TEST_PASSWORD


# --- Stores and the people who work there -------------------------------------------


@pytest.fixture
def store(db):
    return StoreFactory(code="CHZ", name="Chilonzor", time_zone="Asia/Tashkent", currency="UZS", country="UZ")


@pytest.fixture
def other_store(db):
    return StoreFactory(code="YUN", name="Yunusobod", time_zone="Asia/Tashkent", currency="UZS", country="UZ")


@pytest.fixture
def owner(db):
    user = UserFactory(username="olga.owner")
    MembershipFactory(user=user, store=None, role=Role.OWNER)
    return user


@pytest.fixture
def manager(store):
    user = UserFactory(username="dilnoza.manager")
    MembershipFactory(user=user, store=store, role=Role.MANAGER)
    return user


@pytest.fixture
def staff(store):
    user = UserFactory(username="anna.staff")
    MembershipFactory(user=user, store=store, role=Role.STAFF)
    return user


@pytest.fixture
def staff_of_other_store(other_store):
    user = UserFactory(username="bekzod.staff")
    MembershipFactory(user=user, store=other_store, role=Role.STAFF)
    return user


@pytest.fixture
def outsider(db):
    """A valid login with no membership anywhere (a former employee, say)."""
    return UserFactory(username="former.employee")


# --- Customers with a visit history ---------------------------------------------------


def _days_before(as_of: dt.datetime, offsets: list[int]) -> list[dt.date]:
    return [(as_of - dt.timedelta(days=o)).date() for o in offsets]


@pytest.fixture
def best_regular(store):
    """Comes every week for a year, last seen 3 days ago."""
    customer = CustomerFactory(first_name="Jasur", last_name="Toshmatov", home_store=store)
    visits(customer, _days_before(AS_OF, list(range(3, 365, 7))))
    return customer


@pytest.fixture
def lapsed_regular(store):
    """Came every week for eight months, then stopped: last visit 9 weeks ago."""
    customer = CustomerFactory(first_name="Elena", last_name="Petrova", home_store=store, preferred_language="ru")
    visits(customer, _days_before(AS_OF, list(range(63, 300, 7))))
    return customer


@pytest.fixture
def two_visit_customer(store):
    """Came twice, long ago: never a lapsed regular, whatever the gap."""
    customer = CustomerFactory(first_name="Farrukh", last_name="Aliev", home_store=store)
    visits(customer, _days_before(AS_OF, [200, 190]))
    return customer


@pytest.fixture
def one_timer(store):
    customer = CustomerFactory(first_name="Malika", last_name="Yusupova", home_store=store)
    visits(customer, _days_before(AS_OF, [120]))
    return customer


# --- Logged-in clients ------------------------------------------------------------------


@pytest.fixture
def login(client):
    """``login(user)`` → the Django test client logged in as ``user``."""

    def _login(user):
        client.force_login(user)
        return client

    return _login


@pytest.fixture
def client_as():
    """``client_as(user, language=None)`` → a new test client logged in as ``user`` (with the language
    cookie set): several users' clients side by side in one test."""
    from django.test import Client

    def _client(user, language: str | None = None) -> Client:
        client = Client()
        client.force_login(user)
        if language:
            client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
        return client

    return _client


# --- Browser harness ----------------------------------------------------------------------
# Python Playwright driving Debian's Chromium (browser downloads are impossible here).
# Tests marked ``browser`` get ``page`` (a fresh context each) against pytest-django's
# ``live_server``; screenshots go to test-artifacts/ for a person to look at.

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    pg = context.new_page()
    yield pg
    context.close()


@pytest.fixture
def browser_login(page, password):
    """``browser_login(user)`` logs ``user`` in through the real login form."""

    def _login(user):
        page.goto("/accounts/login/")
        page.fill("input[name=username]", user.get_username())
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        return page

    return _login


@pytest.fixture
def screenshot(page):
    """``screenshot("name")`` saves a full-page PNG under test-artifacts/."""

    def _shot(name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return _shot
