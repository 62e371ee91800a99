"""add_store / add_member: scripted set-up for a real shop, idempotent, with clear errors."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from customers.models import Membership, Role, Store

pytestmark = pytest.mark.django_db

GOOD_PASSWORD = "Samsa-kabob-2026!"


def run(*args):
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def env_password(monkeypatch):
    monkeypatch.setenv("REGULARS_PASSWORD", GOOD_PASSWORD)


def test_add_store_creates_then_updates_the_same_row():
    out = run("add_store", "chz", "--name", "Chilonzor", "--time-zone", "Asia/Tashkent", "--currency", "uzs",
              "--country", "uz", "--locale", "uz")  # fmt: skip
    assert "Created store CHZ" in out
    store = Store.objects.get(code="CHZ")
    assert (store.name, store.time_zone, store.currency, store.country, store.locale) == (
        "Chilonzor", "Asia/Tashkent", "UZS", "UZ", "uz",
    )  # fmt: skip

    out = run("add_store", "CHZ", "--name", "Chilonzor Bozori", "--currency", "USD")
    assert "Updated store CHZ" in out
    assert Store.objects.count() == 1
    store.refresh_from_db()
    assert (store.name, store.currency, store.time_zone) == ("Chilonzor Bozori", "USD", "Asia/Tashkent")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--time-zone", "Asia/Atlantis"], "time_zone"),
        (["--currency", "SOM1"], "currency"),
        (["--country", "UZB"], "country"),
        (["--locale", "Uzbek language"], "locale"),
    ],
)
def test_add_store_refuses_bad_values_and_writes_nothing(args, message):
    with pytest.raises(CommandError, match=message):
        run("add_store", "NEW", "--name", "New", *args)
    assert not Store.objects.exists()


def test_add_store_refuses_a_code_the_pos_cannot_use():
    with pytest.raises(CommandError, match="code"):
        run("add_store", "ch z", "--name", "Bad")


def test_add_member_staff_is_idempotent_and_the_password_works(env_password):
    store = Store.objects.create(code="CHZ", name="Chilonzor")
    run("add_member", "anna", "--store", "chz", "--role", "staff", "--email", "anna@shop.example")
    out = run("add_member", "anna", "--store", "CHZ", "--role", "manager", "--email", "anna.k@shop.example")
    assert "Updated anna: Manager of CHZ" in out
    user = get_user_model().objects.get(username="anna")
    assert user.email == "anna.k@shop.example"
    assert list(Membership.objects.filter(user=user).values_list("store", "role")) == [(store.pk, Role.MANAGER)]
    assert user.check_password(GOOD_PASSWORD)


def test_add_member_owner_needs_no_store_and_gets_the_chain_wide_row(env_password):
    run("add_member", "olga", "--role", "owner")
    run("add_member", "olga", "--role", "owner")
    rows = Membership.objects.filter(user__username="olga")
    assert rows.count() == 1 and rows.get().store is None and rows.get().role == Role.OWNER


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "owner", "--store", "CHZ"], "leave out --store"),
        (["--role", "staff"], "pass --store"),
        (["--role", "staff", "--store", "NOPE"], "No store with code"),
        (["--role", "staff", "--store", "CHZ", "--email", "not-an-email"], "email"),
    ],
)
def test_add_member_explains_what_is_wrong(env_password, args, message):
    Store.objects.create(code="CHZ", name="Chilonzor")
    with pytest.raises(CommandError, match=message):
        run("add_member", "bekzod", *args)
    assert not get_user_model().objects.filter(username="bekzod").exists()


def test_add_member_refuses_a_weak_password(monkeypatch):
    Store.objects.create(code="CHZ", name="Chilonzor")
    monkeypatch.setenv("REGULARS_PASSWORD", "12345")
    with pytest.raises(CommandError, match="password"):
        run("add_member", "bekzod", "--role", "staff", "--store", "CHZ")


def test_add_member_without_a_terminal_or_env_password_says_how_to_pass_one(monkeypatch):
    Store.objects.create(code="CHZ", name="Chilonzor")
    monkeypatch.delenv("REGULARS_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="REGULARS_PASSWORD"):
        run("add_member", "bekzod", "--role", "staff", "--store", "CHZ")


def test_add_store_sets_the_solar_hijri_calendar():
    run("add_store", "THR", "--name", "Tehran", "--locale", "fa", "--country", "IR", "--calendar", "solar_hijri")
    assert Store.objects.get(code="THR").calendar == "solar_hijri"
