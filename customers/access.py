"""Who may see what: roles, the stores a user works in, and the view guard.

Rules (see the permission matrix test, which is the spec):
- **owner**: every store of the chain; exports and chain-wide settings.
- **manager**: the stores they manage; dashboard, campaigns, store settings.
- **staff**: the store they work in; customers, tickets, their own notes.
A user with no active membership has no role and sees nothing but the login page.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from django.contrib.auth import get_user_model
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, QuerySet
from django.http import HttpRequest

from .models import ROLE_RANK, Membership, Role, Store

SESSION_STORE_KEY = "regulars.active_store"


@dataclass(frozen=True)
class Access:
    """A user's resolved access: their highest role and the ids of stores they may see."""

    role: Role | None
    store_ids: frozenset[int]
    chain_wide: bool

    def at_least(self, role: Role) -> bool:
        return self.role is not None and ROLE_RANK[self.role] >= ROLE_RANK[role]

    def can_see_store(self, store_id: int | None) -> bool:
        return self.chain_wide or store_id in self.store_ids


NO_ACCESS = Access(role=None, store_ids=frozenset(), chain_wide=False)


def access_for(user) -> Access:
    """Resolve (and cache on the user object) what ``user`` may see."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return NO_ACCESS
    cached = getattr(user, "_regulars_access", None)
    if cached is not None:
        return cached
    rows = list(Membership.objects.filter(user=user, is_active=True).values_list("role", "store_id"))
    user._regulars_access = access = _access_from(rows)
    return access


def access_and_flags(user, flags: dict[str, Exists]) -> dict[str, bool]:
    """Resolve ``access_for(user)`` and answer some EXISTS questions about the user in one query.

    Each flag is an ``Exists`` whose ``OuterRef("pk")`` is the user. The second-factor middleware asks on
    every page whether the user has a confirmed device; asked here, the page's membership read (which
    every page's navigation needs) comes with it instead of costing a query of its own.
    """
    if not getattr(user, "is_authenticated", False):
        return dict.fromkeys(flags, False)
    user_rows = list(
        get_user_model()
        ._default_manager.filter(pk=user.pk)
        .annotate(**flags)
        .values_list("memberships__role", "memberships__store_id", "memberships__is_active", *flags)
    )  # one row per membership (LEFT JOIN), or one row of NULLs without any
    if getattr(user, "_regulars_access", None) is None:
        user._regulars_access = (
            _access_from([(role, store) for role, store, active, *_ in user_rows if role is not None and active])
            if user.is_active
            else NO_ACCESS
        )
    return {name: bool(user_rows and user_rows[0][3 + i]) for i, name in enumerate(flags)}


def _access_from(rows: list[tuple[str, int | None]]) -> Access:
    """The access that active (role, store id) membership rows give."""
    if not rows:
        return NO_ACCESS
    role = max((Role(r) for r, _ in rows), key=ROLE_RANK.__getitem__)
    return Access(
        role=role,
        store_ids=frozenset(s for _, s in rows if s is not None),
        chain_wide=role == Role.OWNER,
    )


def stores_for(user) -> QuerySet[Store]:
    """Every store ``user`` may see (all of them for an owner)."""
    access = access_for(user)
    if access.chain_wide:
        return Store.objects.all()
    return Store.objects.filter(pk__in=access.store_ids)


def stores_in_scope(request: HttpRequest) -> QuerySet[Store]:
    """The stores the current screen is about: the switcher's choice, else all the user may see."""
    stores = stores_for(request.user)
    code = request.session.get(SESSION_STORE_KEY)
    if code:
        chosen = stores.filter(code=code)
        if chosen.exists():
            return chosen
    return stores


def role_required(role: Role) -> Callable:
    """Guard a view: anonymous → login page; below ``role`` (or no membership) → 403."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not access_for(request.user).at_least(role):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapped.required_role = role  # read by the permission matrix test
        return wrapped

    return decorator
