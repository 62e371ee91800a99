"""The POS API: tickets (one or a batch), idempotent retries, card look-up, store scoping, junk input."""

import json
import threading

import pytest
import requests
from rest_framework.test import APIClient

from customers.models import ApiToken, Customer, PurchaseTicket
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/tickets/"


def ticket(number: str, **extra) -> dict:
    return {"store": "CHZ", "ticket": number, "purchased_at": "2026-10-01T10:00:00", "total": "25.00", **extra}


@pytest.fixture
def token_key(store):
    _, raw = ApiToken.issue(store=store, name="Till 1")
    return raw


@pytest.fixture
def pos(token_key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_key}")
    return client


def post(client, body, **headers):
    return client.post(URL, json.dumps(body), content_type="application/json", headers=headers)


def test_one_ticket_is_created_and_described(store, pos):
    response = post(pos, ticket("A1", total=12.5, items=3, customer_email="new@example.test"))
    assert response.status_code == 201, response.json()
    body = response.json()
    created = PurchaseTicket.objects.get()
    assert body["created"] == 1 and body["customers_created"] == 1
    assert body["tickets"] == [
        {"index": 0, "store": "CHZ", "ticket": "A1", "id": created.pk, "status": "created", "is_return": False}
    ]
    assert str(created.total) == "12.50" and created.items == 3 and created.customer.details_missing


def test_the_store_defaults_to_the_tokens_store(store, pos):
    body = ticket("A2")
    del body["store"]
    assert post(pos, body).status_code == 201
    assert PurchaseTicket.objects.get().store == store


def test_a_batch_of_1000_is_created_at_once_and_reposting_it_creates_nothing(store, pos):
    batch = {"tickets": [ticket(f"B{i:04d}", customer_card=f"C{i % 40}") for i in range(1000)]}
    first = post(pos, batch)
    assert first.status_code == 201
    assert first.json()["created"] == 1000 and first.json()["customers_created"] == 40
    again = post(pos, batch)
    assert again.status_code == 200
    assert again.json()["created"] == 0 and again.json()["duplicates"] == 1000
    assert {t["status"] for t in again.json()["tickets"]} == {"duplicate"}
    assert PurchaseTicket.objects.count() == 1000


def test_more_than_1000_tickets_are_refused(store, pos):
    response = post(pos, [ticket(f"B{i}") for i in range(1001)])
    assert response.status_code == 400 and PurchaseTicket.objects.count() == 0


def test_errors_are_field_level_and_nothing_of_the_batch_is_saved(store, pos):
    response = post(pos, {"tickets": [ticket("OK1"), ticket("BAD", total="abc", purchased_at="soon"), ticket("OK2")]})
    assert response.status_code == 400
    body = response.json()
    assert body["tickets"][0] == {} and body["tickets"][2] == {}
    assert set(body["tickets"][1]) == {"total", "purchased_at"}
    assert PurchaseTicket.objects.count() == 0
    single = post(pos, ticket("X", total=None, items="many")).json()
    assert set(single) == {"detail", "total", "items"}


def test_twenty_identical_retries_with_one_idempotency_key_make_one_ticket(store, pos):
    responses = [post(pos, ticket("I1"), **{"Idempotency-Key": "till1-0001"}) for _ in range(20)]
    assert {r.status_code for r in responses} == {201}
    assert {json.dumps(r.json(), sort_keys=True) for r in responses} == {
        json.dumps(responses[0].json(), sort_keys=True)
    }
    assert all(r.headers.get("Idempotent-Replayed") == "true" for r in responses[1:])
    assert PurchaseTicket.objects.filter(number="I1").count() == 1


def test_the_same_idempotency_key_with_another_body_is_422(store, pos):
    assert post(pos, ticket("I2"), **{"Idempotency-Key": "k-2"}).status_code == 201
    response = post(pos, ticket("I2", total="30.00"), **{"Idempotency-Key": "k-2"})
    assert response.status_code == 422
    assert PurchaseTicket.objects.get(number="I2").total == 25


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_retries_make_one_ticket(live_server, store, token_key):
    def call(results, i):
        results[i] = requests.post(
            live_server.url + URL,
            json=ticket("C1", customer_card="C-99".replace("-", "")),
            headers={"Authorization": f"Token {token_key}", "Idempotency-Key": "conc-1"},
            timeout=60,
        )

    results: list = [None] * 20
    threads = [threading.Thread(target=call, args=(results, i)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {r.status_code for r in results} == {201}
    assert len({r.json()["tickets"][0]["id"] for r in results}) == 1
    assert PurchaseTicket.objects.filter(number="C1").count() == 1
    assert Customer.objects.filter(card_number="C99").count() == 1


JUNK = [
    b"not json",
    b'"a string"',
    b"42",
    b"null",
    b"[]",
    b"{}",
    b"[1, 2]",
    b'{"tickets": "many"}',
    b'{"tickets": [null]}',
    b'{"tickets": {}}',
    b'{"store": "CHZ", "ticket": "J", "purchased_at": "2026-10-01", "total": {"a": 1}}',
    b'{"store": "CHZ", "ticket": "J", "purchased_at": "2026-10-01", "total": true}',
    b'{"store": "CHZ", "ticket": "J", "purchased_at": "2026-10-01", "total": NaN}',
    b'{"store": "CHZ", "ticket": "J", "purchased_at": "2026-10-01", "total": 1e400}',
    b'{"store": "CHZ", "ticket": "J", "purchased_at": "2026-02-30T10:00", "total": 1}',
    b'{"store": ["CHZ"], "ticket": 7, "purchased_at": 20261001, "total": -0}',
    b'{"store": "CHZ", "ticket": "' + b"x" * 5000 + b'", "purchased_at": "2026-10-01", "total": 1}',
    b'{"store": "CHZ\\u0000", "ticket": "J\\u0000", "purchased_at": "2026-10-01", "total": "1"}',
    b'{"store": "CHZ", "ticket": "J", "purchased_at": "2026-10-01", "total": "99999999999"}',
    b'{"store": "CHZ", "ticket": "J", "purchased_at": "2026-10-01", "total": "1", "return_of": "J"}',
    b"[" * 5000 + b"]" * 5000,
    b"\xff\xfe garbage",
]


@pytest.mark.parametrize("body", JUNK, ids=range(len(JUNK)))
def test_junk_input_gets_a_4xx_never_a_500(store, pos, body):
    response = pos.post(URL, body, content_type="application/json")
    assert 400 <= response.status_code < 500, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    assert PurchaseTicket.objects.count() == 0


def test_a_form_post_is_one_ticket(store, pos):
    response = pos.post(URL, ticket("F1"))
    assert response.status_code == 201


def test_a_token_of_store_a_cannot_post_tickets_for_store_b(store, other_store, pos):
    response = post(pos, ticket("B1", store="YUN"))
    assert response.status_code == 400
    assert "store" in response.json()
    assert PurchaseTicket.objects.count() == 0


def test_card_look_up_sees_only_the_tokens_store(store, other_store, pos):
    mine = CustomerFactory(home_store=store)
    theirs = CustomerFactory(home_store=other_store)
    response = pos.get(f"/api/v1/customers/by-card/{mine.card_number}/")
    assert response.status_code == 200
    assert response.json()["id"] == mine.pk and response.json()["home_store"] == "CHZ"
    assert "email" not in response.json() and "phone" not in response.json()
    assert pos.get(f"/api/v1/customers/by-card/{theirs.card_number}/").status_code == 404
    assert pos.get("/api/v1/customers/by-card/0000000000000/").status_code == 404


def test_a_revoked_or_wrong_token_is_401(store, token_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token rg_wrong")
    assert post(client, ticket("W1")).status_code == 401
    ApiToken.objects.update(revoked_at="2026-10-01T00:00:00Z")
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_key}")
    assert post(client, ticket("W1")).status_code == 401
    assert APIClient().post(URL, ticket("W1"), format="json").status_code == 401


def test_the_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200 and b"/api/v1/tickets/" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()
