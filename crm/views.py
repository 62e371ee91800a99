"""Project-level endpoints that belong to no app."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving (no dependency checks: that is /readyz)."""
    return JsonResponse({"status": "ok"})
