"""``Idempotency-Key`` for POS requests: a retry gets the first answer, never a second effect.

A till that lost the connection retries the same request with the same key.
The key's record is inserted in the same transaction as the work, so a second
request with the same key waits on the unique index until the first commits,
then replays its answer. 5xx answers are not stored (the transaction rolls
back), so a retry after a server fault does the work again.
"""

import hashlib
import json
from collections.abc import Callable

from django.db import IntegrityError, transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.response import Response

from .api_auth import ApiClient
from .models import IdempotencyRecord

HEADER = "Idempotency-Key"
PARAMETER = OpenApiParameter(
    HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Same key + same body → the first answer again; same key + another body → 422.",
)


class _Rollback(Exception):
    def __init__(self, response: Response):
        self.response = response


def _scope(request) -> str:
    user = request.user
    if isinstance(user, ApiClient):
        return f"token:{user.token.pk}"
    return f"user:{user.pk}"


def _request_hash(request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def idempotent(request, handler: Callable[[], Response]) -> Response:
    """Run ``handler`` at most once per ``Idempotency-Key`` (if the request has one)."""
    key = request.headers.get(HEADER, "").strip()
    if not key:
        return handler()
    if len(key) > 255:
        return Response({"detail": f"{HEADER} is longer than 255 characters."}, status=400)
    scope, digest = _scope(request), _request_hash(request)
    try:
        with transaction.atomic():
            record, created = IdempotencyRecord.objects.get_or_create(
                scope=scope, key=key, defaults={"request_hash": digest, "status_code": 0}
            )
            if not created:
                return _replay(record, digest)
            response = handler()
            if response.status_code >= 500:
                raise _Rollback(response)
            record.status_code = response.status_code
            record.response_body = response.data
            record.save(update_fields=["status_code", "response_body"])
            return response
    except _Rollback as rollback:
        return rollback.response
    except IntegrityError:
        # Lost the race for the key: the other request has committed by now.
        record = IdempotencyRecord.objects.get(scope=scope, key=key)
        return _replay(record, digest)


def _replay(record: IdempotencyRecord, digest: str) -> Response:
    if record.request_hash != digest:
        return Response(
            {"detail": f"This {HEADER} was already used with a different request body."},
            status=422,
        )
    response = Response(record.response_body, status=record.status_code)
    response["Idempotent-Replayed"] = "true"
    return response
