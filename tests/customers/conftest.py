"""Fixtures for the customer file's tests."""

import pytest

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
