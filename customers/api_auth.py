"""Authentication for the POS API: ``Authorization: Token rg_...`` scoped to one store.

A token authenticates as an :class:`ApiClient`, not as a person: it may only
touch its own store. Views read the scope with :func:`api_stores`, which also
serves a logged-in staff session (the browsable API and tests) with the stores
that user may see.
"""

from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone
from rest_framework import authentication, exceptions

from .access import stores_for
from .models import ApiToken, Store


@dataclass
class ApiClient:
    """The identity behind a POS token. Quacks enough like a user for DRF."""

    token: ApiToken
    is_authenticated: bool = True
    is_active: bool = True
    is_anonymous: bool = False
    pk = None

    @property
    def store(self) -> Store:
        return self.token.store

    def get_username(self) -> str:
        return f"api:{self.token.store.code}:{self.token.prefix}"


class StoreTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Invalid token header.")
        token = ApiToken.find_active(header[1].decode(errors="replace"))
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        return ApiClient(token=token), token

    def authenticate_header(self, request) -> str:
        return self.keyword


def api_stores(request) -> QuerySet[Store]:
    """The stores an API request may touch: the token's store, or a session user's stores."""
    user = request.user
    if isinstance(user, ApiClient):
        return Store.objects.filter(pk=user.token.store_id)
    return stores_for(user)
