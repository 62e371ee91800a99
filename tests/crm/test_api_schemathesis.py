"""schemathesis over the served OpenAPI schema, for every kind of caller: no 5xx, no answer off the schema.

The schema is fetched from ``/api/schema/`` of the real Django WSGI application and every
operation is called in-process (``case.call`` with ``app=``), inside the test's transaction, as
each caller the API knows: the store's POS token, another store's token, a revoked token, no
token at all, and a logged-in session (with a CSRF token) for staff, a manager, the owner, staff
of another store and a login with no role. Generation mixes schema-valid and schema-violating
input (positive and negative modes) with the world's real card, reward and voucher, so calls
reach the code behind the 404s. Bounded (25 examples per operation and caller) and derandomized:
the same run every time.
"""

import datetime as dt

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import checks
from schemathesis.generation import GenerationMode

from customers.models import ApiToken
from loyalty.services import account_open, points_adjust, points_redeem
from tests.factories import CustomerFactory
from tests.loyalty.conftest import RewardFactory, chain_rules

world_rules = chain_rules  # the loyalty rules fixture, under a name this module does not shadow

pytestmark = pytest.mark.django_db

# Every operation of the API. A new route fails test_every_operation_is_fuzzed until it is listed here.
OPERATIONS = [
    "POST /api/v1/tickets/",
    "GET /api/v1/customers/by-card/{card}/",
    "GET /api/v1/loyalty/cards/{card}/",
    "POST /api/v1/loyalty/cards/{card}/redemptions/",
    "POST /api/v1/loyalty/vouchers/{code}/use/",
]
CALLERS = [
    "store_token",
    "other_store_token",
    "revoked_token",
    "no_token",
    "staff",
    "manager",
    "owner",
    "staff_of_other_store",
    "no_role",
]
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]
CSRF = "f" * 32  # a CSRF secret: the same value as cookie and header passes Django's check
APP = get_wsgi_application()


@pytest.fixture
def api_schema(db):
    # Like Django's test client: the request signals must not close the test's connection (and its transaction).
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", APP)
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def world(store, other_store, staff, manager, owner, staff_of_other_store, outsider, world_rules):
    """A store with a customer holding points, a reward and an unused voucher; another store with its own."""
    now = dt.datetime.now(dt.UTC)  # the API redeems and uses vouchers at the real now
    customer = CustomerFactory(home_store=store, card_number="2000000000015")
    CustomerFactory(home_store=other_store, card_number="2000000000022")
    account = account_open(customer=customer)
    points_adjust(account=account, points=100_000, reason="fuzz", by=manager, key="fuzz-seed", as_of=now)
    reward = RewardFactory(name="Fuzz voucher", points_cost=250)
    voucher = points_redeem(
        account=account, reward=reward, store=store, by=staff, key="fuzz-v", source="api", as_of=now
    )
    revoked, revoked_key = ApiToken.issue(store=store, name="Old till")
    revoked.revoked_at = now
    revoked.save(update_fields=["revoked_at"])
    return {
        "card": customer.card_number,
        "reward": reward.pk,
        "voucher": voucher.code,
        "store_token": ApiToken.issue(store=store, name="Till 1")[1],
        "other_store_token": ApiToken.issue(store=other_store, name="Till 9")[1],
        "revoked_token": revoked_key,
        "users": {
            "staff": staff,
            "manager": manager,
            "owner": owner,
            "staff_of_other_store": staff_of_other_store,
            "no_role": outsider,
        },
    }


def _caller(world: dict, who: str) -> tuple[dict, dict]:
    """(headers, cookies) for one caller."""
    if who == "no_token":
        return {}, {}
    if who.endswith("_token"):
        return {"Authorization": f"Token {world[who]}"}, {}
    client = Client()
    client.force_login(world["users"][who])
    session = client.cookies["sessionid"].value
    return {"X-CSRFToken": CSRF, "Referer": "http://localhost/"}, {"sessionid": session, "csrftoken": CSRF}


def test_every_operation_is_fuzzed(api_schema):
    labels = [result.ok().label for result in api_schema.get_all_operations()]
    assert sorted(labels) == sorted(OPERATIONS)


@pytest.mark.parametrize("who", CALLERS)
@pytest.mark.parametrize("label", OPERATIONS)
def test_no_server_error_and_no_answer_off_the_schema(api_schema, world, label, who):
    operation = api_schema[label.split(" ")[1]][label.split(" ")[0]]
    headers, cookies = _caller(world, who)
    known = {"card": world["card"], "code": world["voucher"]}
    params = {name: known[name] for name in ("card", "code") if "{" + name + "}" in label}
    strategies = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        strategies.append(operation.as_strategy(generation_mode=mode))
        if params:
            strategies.append(operation.as_strategy(generation_mode=mode, path_parameters=params))
    if label.endswith("redemptions/"):
        strategies.append(
            operation.as_strategy(
                path_parameters=params, body={"reward": world["reward"]}, media_type="application/json"
            )
        )

    @settings(
        max_examples=25,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies))
    def run(case):
        response = case.call(headers=headers, cookies=cookies)
        case.validate_response(response, checks=CHECKS, headers=headers)

    run()
