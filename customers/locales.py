"""A store's locale: how its money, numbers and dates are written, where its week starts, its phone region.

The store's ``locale`` (a language) and ``country`` pick a CLDR locale through Babel (``uz`` + ``UZ`` →
``uz_Latn_UZ``, ``tl`` + ``PH`` → ``fil_PH``); Babel holds the formats, so none are written by hand here.
Digits stay Latin in every locale, as on the rest of the pages. A store may show dates in the Solar Hijri
calendar (``Store.calendar``), converted with jdatetime.
"""

import datetime as dt
from decimal import Decimal
from functools import lru_cache

import jdatetime
from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency, format_decimal
from django.utils import formats, timezone, translation

GREGORIAN = "gregorian"
SOLAR_HIJRI = "solar_hijri"


@lru_cache(maxsize=64)
def babel_locale(language: str, country: str = "") -> Locale:
    """The CLDR locale for a store's language and country (the language alone, then English, if unknown)."""
    language = (language or "en").replace("-", "_").split("_")[0].lower()
    for tag in (f"{language}_{country.upper()}" if country else "", language):
        if not tag:
            continue
        try:
            return Locale.parse(tag)
        except (UnknownLocaleError, ValueError):
            continue
    return Locale.parse("en")


def store_locale(store) -> Locale:
    return babel_locale(store.locale, store.country)


def money_format(amount: Decimal | int | float, *, currency: str, locale: Locale) -> str:
    """``amount`` in ``currency`` as ``locale`` writes it: ``1 234 567,50 soʻm``, ``₱1,234,567.50``."""
    return format_currency(amount, currency, locale=locale, numbering_system="latn")


def store_money(amount, store) -> str:
    return money_format(amount, currency=store.currency, locale=store_locale(store))


def store_number(value, store, *, places: int | None = None) -> str:
    """A plain number with the store's grouping and decimal mark (``places`` fixes the decimals)."""
    if places is not None:
        value = Decimal(value).quantize(Decimal(1).scaleb(-places))
        pattern = "#,##0" + ("." + "0" * places if places else "")
        return format_decimal(value, format=pattern, locale=store_locale(store), numbering_system="latn")
    return format_decimal(value, locale=store_locale(store), numbering_system="latn")


def first_weekday(store) -> int:
    """The first day of the store's week: 0 = Monday … 5 = Saturday (Iran), 6 = Sunday (Philippines)."""
    return store_locale(store).first_week_day


def phone_region(store) -> str:
    """The region local phone numbers are read in (``customers.phones.phone_normalise``)."""
    return store.country


def solar_hijri(day: dt.date, *, language: str) -> str:
    """``day`` in the Solar Hijri calendar: ``1 فروردین 1405`` in Persian, ``1 Farvardin 1405`` otherwise."""
    locale = "fa_IR" if language.startswith("fa") else "en_US"
    return jdatetime.date.fromgregorian(date=day, locale=locale).strftime("%-d %B %Y")


def store_date(day: dt.date | dt.datetime | None, store, *, fmt: str = "DATE_FORMAT") -> str:
    """A date as ``store`` shows it: its calendar, the reader's language; datetimes in the store's zone.

    ``store`` None (several stores at once): Gregorian, in the current time zone.
    """
    if day is None:
        return ""
    if isinstance(day, dt.datetime):
        if day.tzinfo:
            day = timezone.localtime(day, store.tz if store is not None else None)
        day = day.date()
    if store is not None and store.calendar == SOLAR_HIJRI:
        return solar_hijri(day, language=translation.get_language() or "en")
    return formats.date_format(day, fmt)
