"""Request ids, JSON log lines without personal data, and the security headers every page sends."""

import json
import logging

import pytest
from django.urls import reverse

from crm.logging import JsonFormatter, RequestIdFilter

pytestmark = pytest.mark.django_db


def test_every_response_carries_a_request_id_and_keeps_a_sane_incoming_one(client):
    assert len(client.get(reverse("healthz"))["X-Request-ID"]) == 32
    assert client.get(reverse("healthz"), HTTP_X_REQUEST_ID="lb-1234")["X-Request-ID"] == "lb-1234"
    junk = client.get(reverse("healthz"), HTTP_X_REQUEST_ID="<script>")["X-Request-ID"]
    assert junk != "<script>"


def test_log_lines_are_json_with_the_request_id(client, staff, caplog):
    client.force_login(staff)
    handler = logging.StreamHandler()
    records = []
    handler.emit = records.append
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        response = client.get(reverse("customers:detail", args=[999999]), HTTP_X_REQUEST_ID="req-42")
    finally:
        logger.removeHandler(handler)
    assert response.status_code == 404
    line = json.loads(JsonFormatter().format(records[-1]))
    assert line["request_id"] == "req-42"
    assert line["level"] == "WARNING"
    assert "/customers/999999/" in line["msg"]


def test_pages_send_a_content_security_policy_without_inline_script(client, staff):
    client.force_login(staff)
    response = client.get(reverse("home"))
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in policy
    assert b"<script>" not in response.content and b"<script >" not in response.content
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_session_cookie_is_http_only_and_same_site(client, staff, password):
    response = client.post(reverse("login"), {"username": staff.username, "password": password})
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert int(cookie["max-age"]) <= 12 * 60 * 60
