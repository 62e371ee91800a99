"""Queued notes printed as task sheets (real WeasyPrint), read back with pdftotext."""

import datetime as dt
import subprocess
from decimal import Decimal

import pytest
from django.core.management import call_command

from customers.models import Role
from outreach.notes import notes_queue
from outreach.notes_models import CampaignKind, IncentiveKind, Note, NoteStatus
from outreach.notes_sheets import notes_sheet_pdf
from tests.conftest import AS_OF
from tests.factories import MembershipFactory, UserFactory

from .notes_helpers import best, campaign, consenting, lapsed

pytestmark = pytest.mark.django_db


def _text(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "notes.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def team(store):
    """Three people who write and sign: two staff and the manager; one more on leave."""
    people = []
    for username, first, role in (
        ("anna", "Anna", Role.STAFF),
        ("bek", "Bekzod", Role.STAFF),
        ("dil", "Dilnoza", Role.MANAGER),
    ):
        user = UserFactory(username=username, first_name=first, last_name="K")
        MembershipFactory(user=user, store=store, role=role)
        people.append(user)
    away = UserFactory(username="away", first_name="Away", last_name="Z")
    MembershipFactory(user=away, store=store, role=Role.STAFF, on_leave=True)
    return people


@pytest.fixture
def queued(store, team):
    thanks = [consenting(store, first_name=f"Thanks{i}", last_name="Person") for i in range(4)]
    gone = [consenting(store, first_name=f"Missed{i}", last_name="Person", preferred_language="ru") for i in range(3)]
    for rank, c in enumerate(thanks, start=1):
        best(c, rank=rank)
    for c in gone:
        lapsed(c)
    campaign(CampaignKind.THANK_YOU)
    campaign(CampaignKind.WIN_BACK, incentive_kind=IncentiveKind.AMOUNT, incentive_amount=Decimal("50000"))
    notes_queue(as_of=AS_OF)
    return Note.objects.select_related("customer", "voucher").order_by("pk")


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_sheet_holds_every_name_address_wording_voucher_and_a_signature_line_per_staff_member(
    store, team, queued, tmp_path
):
    pdf = notes_sheet_pdf(notes=Note.objects.all(), store=store, printed_on=AS_OF.date())
    text = _text(pdf, tmp_path)
    flat = _flat(text)

    assert queued.count() == 7
    for note in queued:
        assert note.assigned_to.first_name in note.wording  # nobody served them: the writer signs
        assert "\u2063" not in note.wording
        assert note.customer.full_name in text
        assert _flat(note.customer.postal_address) in flat
        for line in note.wording.splitlines():
            assert _flat(line) in flat, line
        if note.kind == CampaignKind.WIN_BACK:
            assert note.voucher.code in text and note.return_code in text
        else:
            assert note.voucher is None
    signers = ["Anna K", "Bekzod K", "Dilnoza K"]
    for name in signers:
        # One line per note for every member of the team, plus the section titles that name the writer.
        lines = [ln.strip() for ln in text.splitlines() if ln.strip() == name]
        assert len(lines) == 7, name
    assert "Away Z" not in text  # on leave: neither writes nor signs
    assert text.lower().count("no coupon") == 4


def test_printing_changes_nothing_that_is_queued(store, team, queued, tmp_path):
    before = list(Note.objects.order_by("pk").values_list("pk", "status", "assigned_to_id", "written_at"))
    for layout in ("sheet", "cards", "labels"):
        notes_sheet_pdf(notes=Note.objects.all(), store=store, printed_on=AS_OF.date(), layout=layout)
    assert list(Note.objects.order_by("pk").values_list("pk", "status", "assigned_to_id", "written_at")) == before


def test_print_note_sheets_command_prints_one_staff_members_notes(store, team, queued, tmp_path):
    anna = team[0]
    mine = list(Note.objects.filter(assigned_to=anna).select_related("customer"))
    others = list(Note.objects.exclude(assigned_to=anna).select_related("customer"))
    out = tmp_path / "anna.pdf"

    call_command("print_note_sheets", "--store", "CHZ", "--staff", "anna", "--layout", "cards", "-o", str(out))

    text = _text(out.read_bytes(), tmp_path)
    assert mine and all(n.customer.full_name in text for n in mine)
    assert not any(n.customer.full_name in text for n in others)


def test_posted_notes_are_not_printed_again_by_the_command(store, team, queued, tmp_path):
    posted = queued.first()
    Note.objects.filter(pk=posted.pk).update(status=NoteStatus.POSTED, posted_at=AS_OF + dt.timedelta(days=1))
    out = tmp_path / "store.pdf"
    call_command("print_note_sheets", "--store", "CHZ", "-o", str(out))
    text = _text(out.read_bytes(), tmp_path)
    assert posted.customer.full_name not in text
    assert all(n.customer.full_name in text for n in queued.exclude(pk=posted.pk))
