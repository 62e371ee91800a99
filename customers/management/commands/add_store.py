"""``manage.py add_store CODE --name NAME``: create or update a store (idempotent, for scripted set-up)."""

import re

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from customers.models import Store


class Command(BaseCommand):
    help = "Create a store, or update it if the code exists. Re-running never duplicates."

    def add_arguments(self, parser):
        parser.add_argument("code", help="short code used by the POS and imports, e.g. CHZ")
        parser.add_argument("--name", required=True, help="the store's name as staff know it")
        parser.add_argument("--time-zone", default=None, help="IANA time zone, e.g. Asia/Tashkent (default UTC)")
        parser.add_argument("--currency", default=None, help="ISO 4217 code, e.g. UZS (default USD)")
        parser.add_argument("--country", default=None, help="ISO 3166 code, e.g. UZ (default US)")
        parser.add_argument("--locale", default=None, help="language of the store's customers, e.g. uz (default en)")
        parser.add_argument("--address", default=None, help="postal address printed on notes")
        parser.add_argument(
            "--calendar",
            default=None,
            choices=["gregorian", "solar_hijri"],
            help="how dates are shown: gregorian (default) or solar_hijri (Persian calendar)",
        )

    def handle(self, *args, code, name, time_zone, currency, country, locale, address, calendar=None, **options):
        code = code.strip().upper()
        if locale is not None and not re.fullmatch(r"[a-z]{2,3}([-_][A-Za-z0-9]{2,4})?", locale):
            raise CommandError(f"locale: {locale!r} is not a language code like uz, fa or pt-br")
        given = {
            "name": name.strip(),
            "time_zone": time_zone,
            "currency": currency.upper() if currency else None,
            "country": country.upper() if country else None,
            "locale": locale,
            "address": address,
            "calendar": calendar,
        }
        changes = {k: v for k, v in given.items() if v is not None}
        with transaction.atomic():
            store = Store.objects.select_for_update().filter(code=code).first()
            created = store is None
            if created:
                store = Store(code=code)
            for field, value in changes.items():
                setattr(store, field, value)
            try:
                store.full_clean(validate_unique=False)
            except ValidationError as exc:
                raise CommandError(_errors(exc)) from exc
            if created:
                store.save()
            else:
                store.save(update_fields=list(changes))
        verb = "Created" if created else "Updated"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} store {store.code} “{store.name}” ({store.time_zone}, {store.currency}, {store.country})."
            )
        )


def _errors(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)
