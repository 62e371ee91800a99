"""Writes for the POS integration: per-store API tokens (managers create and revoke them)."""

import datetime as dt

from .models import ApiToken, AuditEntry, Store
from .services import audit_record


def api_token_create(*, store: Store, name: str, by) -> tuple[ApiToken, str]:
    """Issue a token for ``store``; return it with the raw key, which is shown once and never stored."""
    token, raw = ApiToken.issue(store=store, name=name.strip(), by=by)
    audit_record(actor=by, action=AuditEntry.Action.OTHER, target=token, store=store, details={"api_token": "created"})
    return token, raw


def api_token_revoke(*, token: ApiToken, by, now: dt.datetime) -> ApiToken:
    """Revoke ``token`` from ``now`` on (idempotent: a revoked token stays revoked at its first time)."""
    if token.revoked_at is None:
        token.revoked_at = now
        token.save(update_fields=["revoked_at"])
        audit_record(
            actor=by, action=AuditEntry.Action.OTHER, target=token, store=token.store, details={"api_token": "revoked"}
        )
    return token
