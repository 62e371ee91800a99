"""The version of the dashboard's live tiles (notes pipeline, complaints by reason), per store.

The dashboard keeps its whole rendered body in the cache (``dashboard_tiles.body_cache_key``); the
precomputed tiles are keyed by their tables' refresh times, the live ones by ``LiveVersion``: every
write to a note or a complaint bumps its store's row *in the same transaction* as the write. The
page reads the versions in its store query before it reads any tile, so what it caches is never
older than the version it caches it under (a write that commits in between makes the cached body
newer than its key, and the next page, seeing the new version, renders again).

Where the bumps come from: ``Note``'s queryset (``update``, ``bulk_create``, ``delete``) and
``post_save`` / ``post_delete`` of ``Note`` and ``customers.Feedback`` (``connect``). Writes that
bypass the ORM (raw SQL, ``loaddata`` with ``raw=True``) must call ``live_changed`` themselves.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Now


def live_changed(store_ids: Iterable[int | None], *, create: bool = True) -> None:
    """Bump the live version of these stores (``create``: make their row the first time).

    Deletions bump without creating: the store itself may be going (its row goes with it), and a
    store whose notes or complaints exist already has its row (written with them, or by the migration).
    """
    from .models import LiveVersion

    ids = sorted({i for i in store_ids if i is not None})
    if not ids:
        return
    with transaction.atomic():
        if create:  # missing rows first (a concurrent insert makes ours wait, then skip)
            LiveVersion.objects.bulk_create([LiveVersion(store_id=i) for i in ids], ignore_conflicts=True)
        # One bump per store, in store order (two writers never lock the same rows in different orders).
        LiveVersion.objects.filter(store_id__in=ids).update(version=F("version") + 1, changed_at=Now())


def _saved(sender, instance, raw=False, **kwargs) -> None:
    if not raw:
        live_changed([instance.store_id])


def _deleted(sender, instance, origin=None, **kwargs) -> None:
    """Once per store and deletion: a customer or campaign deleted with its 30,000 notes bumps once.

    One ``delete()`` runs in one transaction, so one bump per store covers all its rows; the stores
    already bumped are remembered on the deletion's origin (the instance or queryset deleted).
    """
    seen = getattr(origin, "_live_versions_bumped", None) if origin is not None else None
    if seen is None:
        seen = set()
        if origin is not None:
            try:
                origin._live_versions_bumped = seen
            except AttributeError:  # pragma: no cover - an origin without a __dict__
                pass
            else:  # the same object deleted again later is another transaction: bump again
                transaction.on_commit(seen.clear)
    if instance.store_id not in seen:
        seen.add(instance.store_id)
        live_changed([instance.store_id], create=False)


def connect() -> None:
    from django.db.models.signals import post_delete, post_save

    from customers.models import Feedback

    from .models import Note

    for model in (Note, Feedback):
        name = model._meta.label_lower
        post_save.connect(_saved, sender=model, dispatch_uid=f"outreach.live_saved.{name}")
        post_delete.connect(_deleted, sender=model, dispatch_uid=f"outreach.live_deleted.{name}")
