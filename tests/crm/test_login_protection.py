"""django-axes: five wrong passwords lock that user from that IP for 15 minutes, counted in the database."""

import pytest
from axes.models import AccessAttempt
from django.core.cache import cache
from django.urls import reverse

pytestmark = pytest.mark.django_db


def _try(client, username: str, password: str, ip: str = "203.0.113.7"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip, follow=False)


def test_five_wrong_passwords_lock_the_account_even_for_the_right_password(client, staff, password):
    for _ in range(4):
        assert _try(client, staff.username, "wrong").status_code == 200  # the form again, with an error
    locked = _try(client, staff.username, "wrong")
    assert locked.status_code == 429
    assert b"15 minutes" in locked.content
    assert _try(client, staff.username, password).status_code == 429, "the right password does not unlock it"


def test_the_lock_is_per_user_and_ip(client, staff, manager, password):
    for _ in range(5):
        _try(client, staff.username, "wrong")
    assert _try(client, manager.username, password).status_code == 302, "another user logs in fine"
    assert _try(client, staff.username, password, ip="198.51.100.9").status_code == 302, "from another IP too"


def test_failure_counters_live_in_the_database_not_the_cache(client, staff):
    for _ in range(3):
        _try(client, staff.username, "wrong")
    cache.clear()  # what a Redis restart does to cached state
    attempt = AccessAttempt.objects.get(username=staff.username)
    assert attempt.failures_since_start == 3
    _try(client, staff.username, "wrong")
    _try(client, staff.username, "wrong")
    assert _try(client, staff.username, "wrong").status_code == 429


def test_a_successful_login_resets_the_counter(client, staff, password):
    for _ in range(3):
        _try(client, staff.username, "wrong")
    assert _try(client, staff.username, password).status_code == 302
    assert not AccessAttempt.objects.filter(username=staff.username).exists()
