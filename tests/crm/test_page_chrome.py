"""The page around every screen: navigation and language list rendered once per process, access read once.

``{% shared_fragment %}`` keeps the navigation per (role, language) and the language list per
language; ``customers.access.access_and_flags`` reads the memberships and the second-factor device
in one query. Neither may show one user what belongs to another role, language or user.
"""

import re

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from customers.access import access_and_flags, access_for
from customers.models import Membership, Role

pytestmark = pytest.mark.django_db


def _nav(response) -> set[str]:
    html = response.content.decode()
    nav = html[html.index('data-testid="nav"') : html.index("</nav>")]
    return set(re.findall(r'data-nav="([a-z-]+)"', nav))


def test_each_role_sees_its_own_navigation_whoever_rendered_it_first(client_as, owner, manager, staff):
    # Rendered for the owner first, then the others in the same process: each gets their role's links.
    owner_nav = _nav(client_as(owner).get(reverse("home")))
    manager_nav = _nav(client_as(manager).get(reverse("home")))
    staff_nav = _nav(client_as(staff).get(reverse("home")))
    assert {"dashboard", "exports", "audit"} <= owner_nav
    assert "dashboard" in manager_nav and not {"exports", "audit"} & manager_nav
    assert "today" in staff_nav and not {"dashboard", "exports", "audit", "manage"} & staff_nav
    assert _nav(client_as(owner).get(reverse("home"))) == owner_nav, "the kept fragment is the owner's"


def test_the_navigation_and_language_list_follow_the_language(client_as, manager):
    english = client_as(manager).get(reverse("home")).content.decode()
    russian = client_as(manager, "ru").get(reverse("home")).content.decode()
    assert ">Customers</a>" in english and ">Customers</a>" not in russian
    assert re.search(r'<option value="en" selected', english)
    assert re.search(r'<option value="ru" selected', russian) and not re.search(r'<option value="en" selected', russian)


def test_csrf_tokens_and_the_user_name_stay_per_request(client_as, manager, owner):
    first = client_as(manager).get(reverse("home")).content.decode()
    second = client_as(owner).get(reverse("home")).content.decode()
    tokens = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', first)
    assert tokens and not set(tokens) & set(re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', second))
    assert manager.username in first and manager.username not in second


def test_one_query_gives_the_access_and_the_device_check(manager, store, django_assert_num_queries):
    user = get_user_model().objects.get(pk=manager.pk)
    flags = {"has_device": Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True))}
    with django_assert_num_queries(1):
        assert access_and_flags(user, flags) == {"has_device": False}
        access = access_for(user)
    assert access.role == Role.MANAGER and access.store_ids == {store.pk}
    TOTPDevice.objects.create(user=manager, name="phone", confirmed=False)
    assert access_and_flags(user, flags) == {"has_device": False}, "an unconfirmed device does not count"
    TOTPDevice.objects.create(user=manager, name="phone 2", confirmed=True)
    assert access_and_flags(user, flags) == {"has_device": True}


def test_an_inactive_membership_gives_no_access_but_a_device_still_asks_for_the_code(client, manager, store):
    Membership.objects.filter(user=manager).update(is_active=False)
    TOTPDevice.objects.create(user=manager, name="phone", confirmed=True)
    client.force_login(manager)
    response = client.get(reverse("dashboard:index"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("two_factor_verify"))
    TOTPDevice.objects.all().delete()
    assert client.get(reverse("dashboard:index")).status_code == 403, "no active membership: no role"
    Membership.objects.create(user=manager, store=None, role=Role.OWNER)
    assert client.get(reverse("dashboard:index")).status_code == 200, "an active owner row counts"
