"""The permission matrix: every URL pattern × every role × own / other store.

This file is the access spec. Each named URL of the project must appear in
MATRIX (or be covered by a namespace rule); a new view that is not listed here
fails ``test_every_url_pattern_is_in_the_matrix``.

Outcomes:
- anonymous → the login page for protected views (302 to /accounts/login/);
- a role below the view's minimum, or no membership at all → 403;
- an object from a store the user does not work in → 404 (we never confirm it exists);
- otherwise the view's success status.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from customers.models import Feedback, Role
from tests.factories import CustomerFactory, TicketFactory

ROLE_ORDER = [Role.STAFF, Role.MANAGER, Role.OWNER]


@dataclass(frozen=True)
class Case:
    """How to call one URL and who may."""

    min_role: Role | None  # None: public
    kwargs: Callable[[dict], dict] = lambda w: {}
    method: str = "get"
    data: Callable[[dict], dict] = lambda w: {}
    ok: int = 200
    # The URL points at an object of store A: users of store B get 404.
    scoped: bool = False
    # Public views that answer a logged-in user differently (e.g. login redirects).
    ok_logged_in: int | None = None
    extra: dict = field(default_factory=dict)


MATRIX: dict[str, Case] = {
    # Public
    "login": Case(None, ok_logged_in=302),
    "logout": Case(None, method="post", ok=302),
    "password_reset": Case(None),
    "password_reset_done": Case(None),
    "password_reset_confirm": Case(None, kwargs=lambda w: {"uidb64": "MQ", "token": "bad-token"}),
    "password_reset_complete": Case(None),
    "set_language": Case(None, method="post", data=lambda w: {"language": "fa", "next": "/"}, ok=302),
    "healthz": Case(None),
    "readyz": Case(None),
    # Staff and up
    "home": Case(Role.STAFF),
    "customers:list": Case(Role.STAFF),
    "customers:detail": Case(Role.STAFF, kwargs=lambda w: {"pk": w["customer"].pk}, scoped=True),
    "two_factor_setup": Case(Role.MANAGER),
    "two_factor_verify": Case(Role.STAFF, ok=302),  # no device → straight on
    "customers:store_switch": Case(Role.STAFF, method="post", data=lambda w: {"store": "", "next": "/"}, ok=302),
    # Dashboard (managers and up) and exports (owners); export jobs are the requesting owner's.
    "dashboard:index": Case(Role.MANAGER),
    "dashboard:exports": Case(Role.OWNER),
    "dashboard:export_download": Case(Role.OWNER, data=lambda w: {"segment": "best", "top": "5", "format": "csv"}),
    "dashboard:export_start": Case(
        Role.OWNER, method="post", data=lambda w: {"segment": "best", "top": "5", "format": "xlsx"}, ok=302
    ),
    "dashboard:export_job": Case(Role.OWNER, kwargs=lambda w: {"pk": _export_job(w).pk}),
    "dashboard:export_job_status": Case(Role.OWNER, kwargs=lambda w: {"pk": _export_job(w).pk}),
    "dashboard:export_job_file": Case(Role.OWNER, kwargs=lambda w: {"pk": _export_job(w, built=True).pk}),
    # Segmentation (managers and up)
    "outreach:segments": Case(Role.MANAGER),
    "outreach:members": Case(Role.MANAGER, kwargs=lambda w: {"name": "lapsed"}),
    "outreach:refresh": Case(Role.MANAGER, method="post", ok=302),
    "outreach:status": Case(Role.MANAGER),
}
# --- POS tickets: imports, API tokens, the POS API (owner: the "pos" helper) -----------------------------


def _import_batch(w: dict):
    from customers.models import ImportBatch

    batch = ImportBatch.objects.create(file_name="day.csv", status=ImportBatch.Status.PREVIEWED, rows_total=1)
    batch.stores.add(w["store"])
    return batch


def _api_token(w: dict):
    from customers.models import ApiToken

    return ApiToken.issue(store=w["store"], name="Till 1")[0]


_POS_TICKET = {"store": "CHZ", "ticket": "M-1", "purchased_at": "2026-10-01T10:00:00", "total": "10.00"}
_API = {"anonymous": 401}

MATRIX.update(
    {
        "customers:imports": Case(Role.STAFF),
        "customers:import_detail": Case(Role.STAFF, kwargs=lambda w: {"pk": _import_batch(w).pk}, scoped=True),
        "customers:import_progress": Case(Role.STAFF, kwargs=lambda w: {"pk": _import_batch(w).pk}, scoped=True),
        "customers:import_errors": Case(Role.STAFF, kwargs=lambda w: {"pk": _import_batch(w).pk}, scoped=True),
        "customers:import_confirm": Case(
            Role.STAFF, method="post", kwargs=lambda w: {"pk": _import_batch(w).pk}, ok=302, scoped=True
        ),
        "customers:import_cancel": Case(
            Role.STAFF, method="post", kwargs=lambda w: {"pk": _import_batch(w).pk}, ok=302, scoped=True
        ),
        "customers:api_tokens": Case(Role.MANAGER),
        "customers:api_token_revoke": Case(
            Role.MANAGER, method="post", kwargs=lambda w: {"pk": _api_token(w).pk}, ok=302, scoped=True
        ),
        # The POS API, through a staff session (tokens are tested in tests/customers/test_api.py).
        # A user of another store posting for store A gets a field error (400), not 404.
        "api:tickets": Case(
            Role.STAFF,
            method="post",
            data=lambda w: _POS_TICKET,
            ok=201,
            extra={**_API, "staff_of_other_store": 400},
        ),
        "api:customer_by_card": Case(
            Role.STAFF, kwargs=lambda w: {"card": w["customer"].card_number}, scoped=True, extra=_API
        ),
        "api_schema": Case(None),
        "api_docs": Case(None),
    }
)


# The customer file: records, feedback, consent, card, privacy, duplicates, sign-up kiosk.
# Kiosk pages answer a logged-in member of staff outside a kiosk session by sending them
# to start one (302); the kiosk session itself is covered in tests/customers/test_kiosk.py.
MATRIX.update(
    {
        "customers:create": Case(Role.STAFF),
        "customers:edit": Case(Role.STAFF, kwargs=lambda w: {"pk": w["customer"].pk}, scoped=True),
        "customers:note_add": Case(
            Role.STAFF,
            kwargs=lambda w: {"pk": w["customer"].pk},
            method="post",
            data=lambda w: {"text": "x"},
            ok=302,
            scoped=True,
        ),
        "customers:feedback_add": Case(Role.STAFF, kwargs=lambda w: {"pk": w["customer"].pk}, scoped=True),
        "customers:feedback": Case(
            Role.STAFF,
            kwargs=lambda w: {
                "pk": Feedback.objects.create(
                    customer=w["customer"], kind="complaint", reason="price", created_at=w["ticket"].purchased_at
                ).pk
            },
            scoped=True,
        ),
        "customers:consent": Case(Role.STAFF, kwargs=lambda w: {"pk": w["customer"].pk}, scoped=True),
        "customers:card": Case(Role.STAFF, kwargs=lambda w: {"pk": w["customer"].pk}, scoped=True),
        "customers:sheet": Case(Role.STAFF, kwargs=lambda w: {"pk": w["customer"].pk}, scoped=True),
        "customers:data_export": Case(Role.MANAGER, kwargs=lambda w: {"pk": w["customer"].pk}, scoped=True),
        "customers:erase": Case(Role.MANAGER, kwargs=lambda w: {"pk": w["customer"].pk}, scoped=True),
        "customers:duplicates": Case(Role.MANAGER),
        "customers:merge": Case(
            Role.MANAGER,
            kwargs=lambda w: {"keep": w["customer"].pk, "duplicate": CustomerFactory(home_store=w["store"]).pk},
            scoped=True,
        ),
        "customers:kiosk_start": Case(Role.STAFF),
        "customers:kiosk_pin": Case(Role.STAFF),
        "customers:kiosk_signup": Case(Role.STAFF, ok=302),
        "customers:kiosk_done": Case(Role.STAFF, ok=302),
        "customers:kiosk_exit": Case(Role.STAFF, ok=302),
        "customers:audit_log": Case(Role.OWNER),
        "customers:audit_log_csv": Case(Role.OWNER),
    }
)

# Notes and campaigns (outreach). Objects are made on demand for store A (CHZ).


def _campaign(w):
    from outreach.notes_models import Campaign

    return Campaign.objects.get_or_create(name="Matrix thanks", kind="thank_you", store=w["store"])[0]


def _note(w):
    from outreach.notes_models import Note

    return Note.objects.get_or_create(
        customer=w["customer"],
        campaign=_campaign(w),
        period="2026-11",
        defaults={
            "store": w["store"],
            "kind": "thank_you",
            "channel": "post",
            "why": "47 visits",
            "wording": "Thank you",
            "language": "en",
            "queued_at": w["ticket"].purchased_at,
            "assigned_to": w["users"]["staff"],
        },
    )[0]


def _unsubscribe_token(w):
    from outreach.emails import unsubscribe_token

    return unsubscribe_token(customer_id=w["customer"].pk)


MATRIX.update(
    {
        "notes:mine": Case(Role.STAFF),
        "notes:tick": Case(
            Role.STAFF, method="post", data=lambda w: {"note": _note(w).pk, "action": "written"}, ok=302
        ),
        "notes:print": Case(Role.STAFF, data=lambda w: {"layout": "labels"}),
        "notes:store": Case(Role.MANAGER),
        "notes:reassign": Case(
            Role.MANAGER,
            kwargs=lambda w: {"pk": _note(w).pk},
            method="post",
            data=lambda w: {"assigned_to": w["users"]["staff"].pk},
            ok=302,
            scoped=True,
        ),
        "notes:campaigns": Case(Role.MANAGER),
        "notes:campaign_new": Case(Role.MANAGER),
        "notes:campaign_detail": Case(Role.MANAGER, kwargs=lambda w: {"pk": _campaign(w).pk}, scoped=True),
        "notes:campaign_edit": Case(Role.MANAGER, kwargs=lambda w: {"pk": _campaign(w).pk}, scoped=True),
        "notes:campaign_queue": Case(
            Role.MANAGER, kwargs=lambda w: {"pk": _campaign(w).pk}, method="post", ok=302, scoped=True
        ),
        "notes:unsubscribe": Case(None, kwargs=lambda w: {"token": _unsubscribe_token(w)}),
    }
)


# Whole namespaces handled by one rule: Django's admin is for superusers only,
# and none of the shop roles is a superuser.
NAMESPACE_RULES = {"admin"}


def _url_names(patterns=None, prefix: str = "") -> set[str]:
    names: set[str] = set()
    for p in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(p, URLResolver):
            ns = f"{prefix}{p.namespace}:" if p.namespace else prefix
            names |= _url_names(p.url_patterns, ns)
        elif isinstance(p, URLPattern):
            names.add(f"{prefix}{p.name}" if p.name else f"{prefix}<unnamed {p.pattern}>")
    return names


def test_every_url_pattern_is_in_the_matrix():
    names = {n for n in _url_names() if n.split(":")[0] not in NAMESPACE_RULES}
    missing = sorted(names - set(MATRIX))
    assert not missing, f"URL patterns with no row in the permission matrix: {missing}"
    stale = sorted(set(MATRIX) - names)
    assert not stale, f"Matrix rows for URLs that no longer exist: {stale}"


@pytest.fixture
def world(store, other_store, owner, manager, staff, staff_of_other_store, outsider):
    customer = CustomerFactory(home_store=store)
    return {
        "store": store,
        "other_store": other_store,
        "customer": customer,
        "ticket": TicketFactory(customer=customer, store=store),
        "users": {
            "staff": staff,
            "manager": manager,
            "owner": owner,
            "staff_of_other_store": staff_of_other_store,
            "outsider": outsider,
        },
    }


ROLE_OF = {
    "staff": Role.STAFF,
    "manager": Role.MANAGER,
    "owner": Role.OWNER,
    "staff_of_other_store": Role.STAFF,
    "outsider": None,
}


def _expected(case: Case, who: str) -> int:
    if who in case.extra:  # e.g. API views answer anonymous callers 401, not a login redirect
        return case.extra[who]
    if who == "anonymous":
        return case.ok if case.min_role is None else 302
    if case.min_role is None:
        return case.ok_logged_in or case.ok
    role = ROLE_OF[who]
    if role is None or ROLE_ORDER.index(role) < ROLE_ORDER.index(case.min_role):
        return 403
    if case.scoped and who == "staff_of_other_store":
        return 404
    return case.ok


def _call(client, name: str, case: Case, world: dict):
    url = reverse(name, kwargs=case.kwargs(world))
    return getattr(client, case.method)(url, case.data(world)), url


def pytest_generate_tests(metafunc):
    """Parametrise at collection time, after every ``MATRIX.update`` in this module has run."""
    if metafunc.function.__name__ == "test_permission_matrix":
        metafunc.parametrize("name", sorted(MATRIX))
        metafunc.parametrize("who", ["anonymous", *ROLE_OF])


@pytest.mark.django_db
def test_permission_matrix(client, world, name, who):
    case = MATRIX[name]
    if who != "anonymous":
        client.force_login(world["users"][who])
    response, url = _call(client, name, case, world)
    expected = _expected(case, who)
    assert response.status_code == expected, f"{who} {case.method.upper()} {url}"
    if who == "anonymous" and case.min_role is not None and "anonymous" not in case.extra:
        assert response["Location"].startswith(reverse("login")), "anonymous users go to the login page"


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["staff", "manager", "owner"])
def test_shop_roles_cannot_open_django_admin(client, world, who):
    client.force_login(world["users"][who])
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


# --- Loyalty (issue 4) ------------------------------------------------------------------------
# API rows answer anonymous callers 401, not a login redirect.


def _reward(w):
    from tests.loyalty.conftest import RewardFactory

    return RewardFactory(store=w["store"])


def _voucher_code(w):
    from django.utils import timezone

    from loyalty.services import account_open, points_adjust, points_redeem

    account = account_open(customer=w["customer"])
    points_adjust(account=account, points=300, reason="matrix", by=w["users"]["manager"], key="m", as_of=timezone.now())
    voucher = points_redeem(
        account=account, reward=_reward(w), store=w["store"], by=None, key="m", source="counter", as_of=timezone.now()
    )
    return voucher.code


def _tier(w):
    from tests.loyalty.conftest import TierFactory

    return TierFactory()


LOYALTY_MATRIX: dict[str, Case] = {
    "loyalty:counter": Case(Role.STAFF),
    "loyalty:counter_customer": Case(Role.STAFF, kwargs=lambda w: {"customer_pk": w["customer"].pk}, scoped=True),
    "loyalty:redeem": Case(
        Role.STAFF,
        kwargs=lambda w: {"customer_pk": w["customer"].pk},
        method="post",
        data=lambda w: {"reward": "0", "nonce": "7d1c8b0e-6b7a-4d7e-9a59-0a0c8c4c2f11"},
        ok=302,
        scoped=True,
    ),
    "loyalty:adjust": Case(Role.MANAGER, kwargs=lambda w: {"customer_pk": w["customer"].pk}, scoped=True),
    "loyalty:voucher_use": Case(Role.STAFF, method="post", data=lambda w: {"code": "NOPE"}, ok=302),
    "loyalty:return_code": Case(Role.STAFF, method="post", data=lambda w: {"code": "NOPE42"}, ok=302),
    "loyalty:voucher": Case(Role.STAFF, kwargs=lambda w: {"code": _voucher_code(w)}, scoped=True),
    "loyalty:reward_list": Case(Role.MANAGER),
    "loyalty:reward_create": Case(Role.MANAGER),
    "loyalty:reward_edit": Case(Role.MANAGER, kwargs=lambda w: {"pk": _reward(w).pk}),
    "loyalty:liability": Case(Role.MANAGER),
    "loyalty:rules": Case(Role.MANAGER),
    "loyalty:rules_chain": Case(Role.OWNER),
    "loyalty:rules_store": Case(Role.MANAGER, kwargs=lambda w: {"store_pk": w["store"].pk}),
    "loyalty:tier_create": Case(Role.OWNER),
    "loyalty:tier_edit": Case(Role.OWNER, kwargs=lambda w: {"pk": _tier(w).pk}),
    "loyalty_api:card": Case(Role.STAFF, kwargs=lambda w: {"card": w["customer"].card_number}, scoped=True, extra=_API),
    "loyalty_api:redeem": Case(
        Role.STAFF,
        kwargs=lambda w: {"card": w["customer"].card_number},
        method="post",
        data=lambda w: {"reward": _reward(w).pk},
        ok=409,  # the customer has no points: a refusal, not an error
        scoped=True,
        extra=_API,
    ),
    "loyalty_api:voucher_use": Case(
        Role.STAFF, kwargs=lambda w: {"code": _voucher_code(w)}, method="post", scoped=True, extra=_API
    ),
}
MATRIX.update(LOYALTY_MATRIX)


def _export_job(w: dict, built: bool = False):
    """An XLSX export job of the world's owner (built for real when the file is needed)."""
    import datetime as dt

    from outreach.exports import ExportRequest, export_job_run, export_job_start

    request = ExportRequest(segment="best", top=5, store_ids=(w["store"].pk,), as_of=dt.date(2026, 11, 1))
    job = export_job_start(by=w["users"]["owner"], request=request)
    if built:
        job = export_job_run(job_id=job.pk, now=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    return job
