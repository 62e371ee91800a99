"""Logs carry ids, never names, emails or phones: a full run through the product is grepped for them.

The run touches every path that logs: sign-up on the kiosk service, a CSV import that creates
customers, a POS API post, search and customer pages (and a 404), loyalty earning, segmentation,
dashboard refresh, a merge and an erasure — with every logger at DEBUG.
"""

import datetime as dt
import io
import json
import logging

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.logging import JsonFormatter, RequestIdFilter
from customers.models import ApiToken
from customers.services import customer_erase, customer_signup, customers_merge
from outreach.services import segments_refresh
from tests.customers.conftest import csv_bytes, sale

pytestmark = pytest.mark.django_db

PERSONAL = [
    "Zulfiya", "Qodirova", "zulfiya.q@example.test", "+998901112233", "901112233",
    "Bahodir", "Nematov", "bahodir@example.test", "+998935554466",
]  # fmt: skip


@pytest.fixture
def all_logs():
    """Every record of every logger at DEBUG, formatted as production would (JSON lines)."""
    lines: list[str] = []
    formatter, request_ids = JsonFormatter(), RequestIdFilter()

    class Collect(logging.Handler):
        def emit(self, record):
            request_ids.filter(record)
            lines.append(formatter.format(record))

    handler, root = Collect(level=logging.DEBUG), logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    noisy = [logging.getLogger(n) for n in ("django.db.backends", "weasyprint", "fontTools", "faker")]
    old = [lg.level for lg in noisy]
    for lg in noisy:  # SQL text at DEBUG would contain the parameters; production never logs it
        lg.setLevel(logging.WARNING)
    yield lines
    root.removeHandler(handler)
    root.setLevel(old_level)
    for lg, level in zip(noisy, old, strict=True):
        lg.setLevel(level)


def test_a_full_run_logs_no_names_emails_or_phones(all_logs, client, store, staff, manager, best_regular):
    now = timezone.now()
    zulfiya = customer_signup(
        store=store, name="Zulfiya Qodirova", city="Toshkent", contact="zulfiya.q@example.test",
        consents={"email": True}, wording={"email": "Yes, email me"}, at=now, by=staff,
    )  # fmt: skip
    from customers.importers import tickets_import_csv

    data = csv_bytes(
        [
            sale("L-1", customer_email="bahodir@example.test", customer_phone="+998935554466"),
            sale("L-2", customer_phone="+998901112233"),
        ]
    )
    tickets_import_csv(file=io.BytesIO(data), now=now)
    _token, raw = ApiToken.issue(store=store, name="Till")
    client.post(
        reverse("api:tickets"),
        data=json.dumps({"store": "CHZ", "ticket": "L-3", "purchased_at": "2026-10-01T10:00:00", "total": "5.00",
                         "customer_email": "zulfiya.q@example.test"}),
        content_type="application/json",
        headers={"Authorization": f"Token {raw}"},
    )  # fmt: skip
    client.force_login(staff)
    client.get(reverse("customers:list"), {"q": "Zulfiya Qodirova"})
    client.get(reverse("customers:list"), {"q": "+998901112233"})
    client.get(zulfiya.get_absolute_url())
    client.get("/customers/999999/?q=Zulfiya")  # a 404 is logged by Django
    segments_refresh(store=None, as_of=dt.date.today(), now=now)
    from customers.models import Customer

    other = Customer.objects.filter(email="bahodir@example.test").first()
    customers_merge(survivor=zulfiya, duplicate=other, by=manager)
    customer_erase(customer=zulfiya, by=manager, at=now)

    assert all_logs, "the run should log something"
    leaked = [line for line in all_logs if any(s in line for s in PERSONAL)]
    assert not leaked, "personal strings in the logs:\n" + "\n".join(leaked)
