"""Request-wide middleware: request ids, and the second factor for those who set one up."""

import functools
import re
import uuid

from django.shortcuts import redirect
from django.urls import reverse

from .context import request_id

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Take the proxy's X-Request-ID (if sane) or make one; put it in logs and the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        # Not reset on the way out: Django logs 4xx/5xx responses after the
        # middleware chain returns, and those lines need the id too. The next
        # request on this thread sets its own.
        request_id.set(rid)
        request.request_id = rid
        response = self.get_response(request)
        response["X-Request-ID"] = rid
        return response


class SecondFactorMiddleware:
    """A user who set up a TOTP device must enter a code before using any page.

    Two-factor is optional; once a manager or owner confirms a device it is
    enforced on every login. Login, logout, the verification page, static files
    and health checks stay reachable.
    """

    EXEMPT_PREFIXES = ("/accounts/", "/static/", "/healthz", "/readyz", "/i18n/", "/api/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.path.startswith(self.EXEMPT_PREFIXES)
            and not user.is_verified()
            and _has_confirmed_device(user)
        ):
            return redirect(f"{reverse('two_factor_verify')}?next={request.get_full_path()}")
        return self.get_response(request)


def _has_confirmed_device(user) -> bool:
    """django_otp's ``user_has_device(user, confirmed=True)``, asked in the query that resolves the user's
    access (``customers.access.access_and_flags``): the page needs that read anyway, so the check is free."""
    from customers.access import access_and_flags

    return any(access_and_flags(user, _confirmed_device_flags()).values())


@functools.cache
def _confirmed_device_flags() -> dict:
    """One ``Exists`` per installed device model (built once: each query resolves its own copy)."""
    from django.db.models import Exists, OuterRef
    from django_otp import device_classes

    return {
        f"has_device_{i}": Exists(model.objects.filter(user=OuterRef("pk"), confirmed=True))
        for i, model in enumerate(device_classes())
    }
