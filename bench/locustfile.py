"""Locust users for bench/load.py (run by it; not imported by the app or the tests).

Fifty users on loopback, in fixed numbers: staff searching the customer file, a kiosk signing
customers up (GET the form, POST it with its CSRF token), tills posting tickets through the
API with the store's token, managers opening the dashboard, and a probe on /healthz (the
baseline every p95 is divided by). A response is a failure unless it is the expected status;
5xx answers are failures named "server error <status>" so bench/load.py can count them apart.

Parameters come from the JSON file named by BENCH_LOAD_DATA (written by bench/load.py).
"""

import datetime as dt
import json
import os
import random
import uuid

from locust import HttpUser, between, task

DATA = json.loads(open(os.environ["BENCH_LOAD_DATA"], encoding="utf-8").read())  # noqa: SIM115
PASSWORD = DATA["password"]


def _check(response, *expected: int) -> None:
    if response.status_code >= 500:
        response.failure(f"server error {response.status_code}")
    elif response.status_code not in expected:
        response.failure(f"unexpected {response.status_code}")
    else:
        response.success()


def _login(user: HttpUser, username: str) -> None:
    user.client.get("/accounts/login/", name="login")
    token = user.client.cookies.get("csrftoken", "")
    with user.client.post(
        "/accounts/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
        name="login",
        allow_redirects=False,
        catch_response=True,
    ) as response:
        _check(response, 302)


class Staff(HttpUser):
    """Finds customers by name, misspelt name, card or phone ending."""

    fixed_count = 18
    wait_time = between(1, 3)

    def on_start(self):
        _login(self, random.choice(DATA["staff"]))

    @task
    def search(self):
        q = random.choice(DATA["queries"])
        with self.client.get("/customers/", params={"q": q}, name="search", catch_response=True) as response:
            _check(response, 200)


class Kiosk(HttpUser):
    """A tablet at the counter: a member of staff starts the kiosk once, then customers sign up."""

    fixed_count = 10
    wait_time = between(2, 5)

    def on_start(self):
        _login(self, DATA["kiosk_staff"])
        self.client.get("/customers/kiosk/", name="kiosk start")
        with self.client.post(
            "/customers/kiosk/",
            data={
                "store": DATA["kiosk_store"],
                "pin": DATA["kiosk_pin"],
                "csrfmiddlewaretoken": self.client.cookies.get("csrftoken", ""),
            },
            name="kiosk start",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            _check(response, 302)

    @task
    def sign_up(self):
        with self.client.get("/customers/kiosk/signup/", name="kiosk signup GET", catch_response=True) as response:
            _check(response, 200)
        n = uuid.uuid4().hex[:10]
        with self.client.post(
            "/customers/kiosk/signup/",
            data={
                "name": f"Load Tester {n}",
                "city": "Toshkent",
                "contact": f"load-{n}@bench.test",
                "consent_email": "on",
                "csrfmiddlewaretoken": self.client.cookies.get("csrftoken", ""),
            },
            name="kiosk signup POST",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            _check(response, 302)


class Till(HttpUser):
    """A POS till posting one ticket at a time with its store's token (half of them for a known card)."""

    fixed_count = 12
    wait_time = between(1, 3)

    @task
    def post_ticket(self):
        body = {
            "ticket": f"L-{uuid.uuid4().hex[:16]}",
            "purchased_at": dt.datetime.now(dt.UTC).isoformat(),
            "total": f"{random.randint(500, 90000) / 100:.2f}",
            "items": random.randint(1, 6),
        }
        if random.random() < 0.5:
            body["customer_card"] = random.choice(DATA["cards"])
        with self.client.post(
            "/api/v1/tickets/",
            json=body,
            headers={"Authorization": f"Token {DATA['token']}"},
            name="api tickets POST",
            catch_response=True,
        ) as response:
            _check(response, 201)


class Manager(HttpUser):
    """The morning dashboard of one store."""

    fixed_count = 5
    wait_time = between(2, 5)

    def on_start(self):
        _login(self, DATA["manager"])

    @task
    def dashboard(self):
        with self.client.get("/dashboard/", name="dashboard", catch_response=True) as response:
            _check(response, 200)


class Probe(HttpUser):
    """A load balancer's health check: the baseline measured under the same load."""

    fixed_count = 5
    wait_time = between(0.5, 1.5)

    @task
    def healthz(self):
        with self.client.get("/healthz", name="healthz", catch_response=True) as response:
            _check(response, 200)
