"""Fixtures for the customer file's tests (records, imports and the POS API)."""

import datetime as dt

import pytest

from customers.importers import COLUMNS, tickets_import_csv
from customers.models import Feedback
from tests.conftest import AS_OF


@pytest.fixture
def make_feedback():
    """``make_feedback(customer, kind=..., status=...)`` → a Feedback row."""

    def _make(customer, *, kind=Feedback.Kind.COMPLAINT, status=Feedback.Status.OPEN, reason="not_fit", text=""):
        return Feedback.objects.create(
            customer=customer,
            kind=kind,
            reason=reason,
            status=status,
            text=text,
            store=customer.home_store,
            created_at=AS_OF,
            response="We are sorry." if status == Feedback.Status.ANSWERED else "",
            responded_at=AS_OF if status == Feedback.Status.ANSWERED else None,
        )

    return _make


@pytest.fixture
def captured_signal():
    """``captured_signal(signal)`` → a list that collects every send's kwargs until the test ends."""
    connected = []

    def _capture(signal):
        calls = []

        def receiver(sender, **kwargs):
            kwargs.pop("signal", None)
            calls.append(kwargs)

        signal.connect(receiver, weak=False)
        connected.append((signal, receiver))
        return calls

    yield _capture
    for signal, receiver in connected:
        signal.disconnect(receiver)


NOW = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)


def csv_bytes(rows: list[dict], *, delimiter: str = ",", bom: bool = False, columns=COLUMNS) -> bytes:
    """A ticket CSV with a header row; missing values are empty."""
    lines = [delimiter.join(columns)]
    for row in rows:
        lines.append(delimiter.join(_quote(str(row.get(c, "")), delimiter) for c in columns))
    text = "\n".join(lines) + "\n"
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode()


def _quote(value: str, delimiter: str) -> str:
    if delimiter in value or '"' in value or "\n" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


def sale(number: str, *, store: str = "CHZ", at: str = "2026-10-01T10:00:00", total: str = "25.00", **extra) -> dict:
    return {"store": store, "ticket": number, "purchased_at": at, "total": total, "items": "2", **extra}


@pytest.fixture
def run_import(tmp_path):
    """``run_import(bytes, **options)`` → (CsvSource, ImportOutcome), through the real CSV reader."""

    def _run(data: bytes, **options):
        path = tmp_path / "tickets.csv"
        path.write_bytes(data)
        options.setdefault("now", NOW)
        with path.open("rb") as f:
            return tickets_import_csv(file=f, **options)

    return _run
