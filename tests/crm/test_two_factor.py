"""Optional TOTP two-factor for managers and owners."""

import pytest
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

pytestmark = pytest.mark.django_db


def _code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def _enable(client, user) -> TOTPDevice:
    client.force_login(user)
    page = client.get(reverse("two_factor_setup"))
    assert b'src="data:image/svg+xml' in page.content, "the set-up page shows a QR code"
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    response = client.post(reverse("two_factor_setup"), {"code": _code(device)})
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    return device


def test_a_manager_turns_on_two_factor_with_a_code_from_the_app(client, manager):
    _enable(client, manager)
    assert client.get(reverse("home")).status_code == 200, "verified in this session"


def test_a_wrong_code_does_not_turn_it_on(client, manager):
    client.force_login(manager)
    client.get(reverse("two_factor_setup"))
    response = client.post(reverse("two_factor_setup"), {"code": "000000"})
    assert response.status_code == 200
    assert not TOTPDevice.objects.filter(user=manager, confirmed=True).exists()


def test_after_login_every_page_asks_for_the_code_until_it_is_given(client, manager):
    device = _enable(client, manager)
    client.logout()
    client.force_login(manager)  # password step done, second step not yet
    blocked = client.get(reverse("customers:list"))
    assert blocked.status_code == 302
    assert blocked["Location"].startswith(reverse("two_factor_verify"))
    device.refresh_from_db()
    device.last_t = -1  # allow the same time step again in this test
    device.save(update_fields=["last_t"])
    done = client.post(reverse("two_factor_verify"), {"code": _code(device), "next": reverse("customers:list")})
    assert done.status_code == 302 and done["Location"] == reverse("customers:list")
    assert client.get(reverse("customers:list")).status_code == 200


def test_staff_cannot_open_two_factor_setup(client, staff):
    client.force_login(staff)
    assert client.get(reverse("two_factor_setup")).status_code == 403
