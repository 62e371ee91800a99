"""The owners' audit log: filterable, exportable as safe CSV, and itself audited."""

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from customers.models import AuditEntry
from customers.services import audit_record

pytestmark = pytest.mark.django_db


def test_owner_filters_the_log_by_action(login, owner, manager, store):
    audit_record(actor=manager, action=AuditEntry.Action.ERASE, store=store, details={"customer": 7})
    audit_record(actor=manager, action=AuditEntry.Action.POINTS_ADJUST, store=store, details={"points": 50})
    page = login(owner).get(reverse("customers:audit_log"), {"action": "erase"})
    rows = page.context["page"].object_list
    assert [e.action for e in rows] == ["erase"]
    assert "Customer erased" in page.content.decode()


def test_csv_export_is_streamed_neutralised_and_audited(login, owner, store):
    from tests.factories import UserFactory

    hostile = UserFactory(username="=cmd|calc")
    audit_record(actor=hostile, action=AuditEntry.Action.OTHER, store=store, details={"rows": 3})
    response = login(owner).get(reverse("customers:audit_log_csv"))
    body = b"".join(response.streaming_content).decode()
    cells = [cell for line in body.lstrip("\ufeff").splitlines()[1:] for cell in line.split(",")]
    assert "'=cmd|calc" in cells, "a login that looks like a formula is neutralised"
    assert not [c for c in cells if c.startswith(("=", "+", "@"))]
    assert AuditEntry.objects.filter(action=AuditEntry.Action.EXPORT, details__what="audit_log").exists()


def test_role_changes_by_command_are_audited(store, monkeypatch):
    monkeypatch.setenv("REGULARS_PASSWORD", "a long enough passphrase 42")
    call_command("add_member", "zarina", "--store", store.code, "--role", "staff", stdout=io.StringIO())
    call_command("add_member", "zarina", "--store", store.code, "--role", "manager", stdout=io.StringIO())
    moves = list(AuditEntry.objects.filter(action=AuditEntry.Action.ROLE).values_list("details", flat=True))
    assert {"from": "", "to": "staff", "via": "add_member"} in moves
    assert {"from": "staff", "to": "manager", "via": "add_member"} in moves
