"""Writes of the customer file (multi-model, side effects). Keyword-only, typed, ``<noun>_<verb>``."""

from django.db import models

from .models import AuditEntry, Store


def audit_record(
    *,
    actor,
    action: str,
    target: models.Model | None = None,
    store: Store | None = None,
    details: dict | None = None,
) -> AuditEntry:
    """Append one audit entry. ``details`` must hold ids and counts only, never personal data."""
    return AuditEntry.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        store=store,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=target.pk if target is not None else None,
        details=details or {},
    )
