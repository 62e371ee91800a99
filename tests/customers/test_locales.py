"""A store's locale writes its money, dates and week start (Babel, jdatetime) and reads its phone numbers."""

import datetime as dt
import subprocess
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import translation

from customers import locales
from customers.services import customer_create
from outreach.notes import notes_queue
from outreach.notes_models import CampaignKind, IncentiveKind, Note
from outreach.notes_sheets import notes_sheet_pdf
from tests.conftest import AS_OF
from tests.factories import CustomerFactory, MembershipFactory, StoreFactory, UserFactory, visits
from tests.outreach.notes_helpers import campaign, consenting, lapsed

NBSP = "\xa0"
LRM = "\u200e"


def _store(language: str, country: str, currency: str, **kw):
    """An unsaved store: formatting needs no database."""
    from customers.models import Store

    return Store(code=country, name=country, locale=language, country=country, currency=currency, **kw)


@pytest.mark.parametrize(
    ("language", "country", "currency", "expected"),
    [
        ("uz", "UZ", "UZS", f"1{NBSP}234{NBSP}567,50{NBSP}soʻm"),
        ("ru", "RU", "RUB", f"1{NBSP}234{NBSP}567,50{NBSP}₽"),
        ("fa", "IR", "IRR", f"{LRM}ریال{NBSP}1,234,568"),  # the rial has no minor unit
        ("bg", "BG", "BGN", f"1{NBSP}234{NBSP}567,50{NBSP}лв."),
        ("bg", "BG", "EUR", f"1{NBSP}234{NBSP}567,50{NBSP}€"),  # Bulgaria's euro, written the Bulgarian way
        ("tl", "PH", "PHP", "₱1,234,567.50"),
        ("en", "US", "USD", "$1,234,567.50"),
    ],
)
def test_each_store_writes_its_currency_as_its_locale_does(language, country, currency, expected):
    assert locales.store_money(Decimal("1234567.50"), _store(language, country, currency)) == expected


def test_store_locale_follows_language_and_country_and_falls_back():
    assert str(locales.store_locale(_store("uz", "UZ", "UZS"))) == "uz_Latn_UZ"
    assert str(locales.store_locale(_store("tl", "PH", "PHP"))) == "fil_PH"
    assert str(locales.store_locale(_store("ru", "UZ", "UZS"))) == "ru"  # CLDR has no ru_UZ: Russian as such
    assert str(locales.store_locale(_store("xx", "ZZ", "USD"))) == "en"
    assert locales.store_number(Decimal("1234.5"), _store("bg", "BG", "EUR"), places=2) == f"1{NBSP}234,50"


@pytest.mark.parametrize(
    ("language", "country", "first"),
    [("uz", "UZ", 0), ("ru", "RU", 0), ("bg", "BG", 0), ("fa", "IR", 5), ("tl", "PH", 6), ("en", "US", 6)],
)
def test_the_week_starts_where_the_store_starts_it(language, country, first):
    """0 = Monday, 5 = Saturday, 6 = Sunday."""
    assert locales.first_weekday(_store(language, country, "USD")) == first


def test_solar_hijri_dates_for_a_known_day():
    assert locales.solar_hijri(dt.date(2026, 3, 21), language="fa") == "1 فروردین 1405"
    assert locales.solar_hijri(dt.date(2026, 3, 21), language="en") == "1 Farvardin 1405"
    assert locales.solar_hijri(dt.date(2026, 3, 20), language="fa") == "29 اسفند 1404"
    tehran = _store("fa", "IR", "IRR", time_zone="Asia/Tehran", calendar=locales.SOLAR_HIJRI)
    # 22:00 UTC on 20 March is already 21 March in Tehran: the store's zone decides the day.
    with translation.override("fa"):
        assert locales.store_date(dt.datetime(2026, 3, 20, 22, 0, tzinfo=dt.UTC), tehran) == "1 فروردین 1405"
    tehran.calendar = locales.GREGORIAN
    with translation.override("en"):
        assert locales.store_date(dt.date(2026, 3, 21), tehran) == "March 21, 2026"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("country", "local", "e164"),
    [
        ("BG", "0888 123 456", "+359888123456"),
        ("PH", "0917 123 4567", "+639171234567"),
        ("UZ", "90 123 45 67", "+998901234567"),
    ],
)
def test_local_phone_numbers_are_read_in_the_stores_region(country, local, e164):
    store = StoreFactory(code=f"P{country}", country=country)
    assert locales.phone_region(store) == country
    customer = customer_create(store=store, by=None, first_name="A", last_name="B", phone=local, city="X")
    assert customer.phone == e164


@pytest.fixture
def tehran(db):
    store = StoreFactory(
        code="THR",
        name="Tehran",
        locale="fa",
        country="IR",
        currency="IRR",
        time_zone="Asia/Tehran",
        calendar=locales.SOLAR_HIJRI,
    )
    writer = UserFactory(username="reza", first_name="Reza", last_name="K")
    MembershipFactory(user=writer, store=store, role="staff")
    return store, writer


@pytest.mark.django_db
def test_customer_page_writes_rials_and_solar_hijri_dates(client, tehran):
    store, writer = tehran
    customer = CustomerFactory(home_store=store, first_name="Maryam", last_name="Rahimi")
    visits(customer, [dt.date(2026, 3, 21)], total=Decimal("1500000"))
    client.force_login(writer)
    client.cookies["django_language"] = "fa"
    page = client.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    assert "1 فروردین 1405" in page
    assert f"ریال{NBSP}1,500,000" in page
    client.cookies["django_language"] = "en"
    page = client.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    assert "1 Farvardin 1405" in page and "March 21, 2026" not in page


@pytest.mark.django_db
def test_my_notes_and_the_task_sheet_write_solar_hijri_dates(client, tehran, tmp_path):
    store, writer = tehran
    lapsed(consenting(store, first_name="Maryam", last_name="Rahimi", preferred_language="fa"))
    campaign(CampaignKind.WIN_BACK, incentive_kind=IncentiveKind.PERCENT, incentive_percent=10, incentive_valid_days=30)
    notes_queue(as_of=AS_OF)
    note = Note.objects.get()
    expires = locales.solar_hijri(note.voucher.expires_at.astimezone(store.tz).date(), language="fa")
    last_visit = locales.solar_hijri(AS_OF.date() - dt.timedelta(days=63), language="fa")
    assert f"({last_visit})" in note.why  # why, in the store's language and calendar
    client.force_login(writer)
    client.cookies["django_language"] = "fa"
    page = client.get(reverse("notes:mine")).content.decode()
    assert expires in page and last_visit in page

    with translation.override("fa"):
        pdf = notes_sheet_pdf(notes=Note.objects.all(), store=store, printed_on=dt.date(2026, 3, 21), language="fa")
    path = tmp_path / "sheet.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True).stdout
    flat = " ".join(text.translate(dict.fromkeys(map(ord, "\u200c\u202a\u202b\u202c"))).split())
    assert "فروردین" in flat and "1405" in flat, "the print date in the Solar Hijri calendar"
    assert expires.split()[1] in flat, "the voucher's last day in the Solar Hijri calendar"
