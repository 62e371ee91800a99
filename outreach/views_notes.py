"""Screens for notes and campaigns: My notes, the store's notes, printing, campaigns, unsubscribe.

Thin: each view checks the role, fetches through ``notes_selectors`` (scoped: 404 outside the
user's stores) and calls one service.
"""

from collections import OrderedDict

from django.contrib import messages
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from customers.access import access_for, role_required, stores_in_scope
from customers.models import Role

from . import notes_selectors as sel
from .campaigns import SKIP_REASONS, campaign_preview
from .campaigns_forms import CampaignForm, ReassignForm
from .notes import note_reassign, notes_mark, notes_queue
from .notes_models import CampaignKind, Note, NoteStatus
from .notes_sheets import notes_sheet_pdf
from .results import campaign_results
from .sheets import LAYOUTS


def _back(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default


# --- My notes ---------------------------------------------------------------------------------------


@role_required(Role.STAFF)
def my_notes(request: HttpRequest) -> HttpResponse:
    """The notes I write, grouped by kind, with written/posted ticks and a progress line."""
    notes = list(sel.my_notes(user=request.user))
    groups: OrderedDict[str, list[Note]] = OrderedDict()
    for n in notes:
        groups.setdefault(str(CampaignKind(n.kind).label), []).append(n)
    posted = sum(1 for n in notes if n.status == NoteStatus.POSTED)
    written = sum(1 for n in notes if n.status in (NoteStatus.WRITTEN, NoteStatus.POSTED))
    return render(
        request,
        "outreach/notes/my_notes.html",
        {
            "groups": groups,
            "total": len(notes),
            "posted": posted,
            "written": written,
            "layouts": LAYOUTS,
            "percent": round(100 * posted / len(notes)) if notes else 0,
        },
    )


@role_required(Role.STAFF)
@require_POST
def notes_tick(request: HttpRequest) -> HttpResponse:
    """Tick one note (``note`` + ``action``) or many (``notes`` checkboxes + ``action``)."""
    action = request.POST.get("action", "")
    ids = request.POST.getlist("notes") or request.POST.getlist("note")
    try:
        ids = [int(i) for i in ids]
    except ValueError:
        return HttpResponseBadRequest("bad note id")
    if not ids:
        messages.warning(request, _("Tick at least one note first."))
        return redirect(_back(request, reverse("notes:mine")))
    try:
        changed = notes_mark(notes=sel.tickable_notes(user=request.user, ids=ids), action=action, at=timezone.now())
    except ValidationError:
        return HttpResponseBadRequest("unknown action")
    label = _("posted") if action == "posted" else _("written")
    messages.success(
        request,
        ngettext("%(n)s note marked %(what)s.", "%(n)s notes marked %(what)s.", changed)
        % {"n": changed, "what": label},
    )
    return redirect(_back(request, reverse("notes:mine")))


@role_required(Role.STAFF)
def notes_print(request: HttpRequest) -> HttpResponse:
    """The task sheet as a PDF: my notes, or (managers) the whole store's. Printing changes nothing."""
    layout = request.GET.get("layout", "sheet")
    if layout not in LAYOUTS:
        return HttpResponseBadRequest("unknown layout")
    scope = request.GET.get("scope", "mine")
    stores = stores_in_scope(request)
    if scope == "store":
        if not access_for(request.user).at_least(Role.MANAGER):
            raise PermissionDenied
        notes = sel.store_notes(user=request.user, stores=stores)
    else:
        notes = sel.my_notes(user=request.user).filter(status__in=sel.OPEN_STATUSES, store__in=stores)
    store_id = notes.values_list("store_id", flat=True).first()
    store = stores.filter(pk=store_id).first() if store_id else stores.first()
    if store is None:
        raise PermissionDenied
    notes = notes.filter(store=store)
    pdf = notes_sheet_pdf(
        notes=notes,
        store=store,
        printed_on=timezone.localdate(),
        layout=layout,
        language=translation.get_language() or "en",
    )
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="notes-{store.code}-{layout}.pdf"'
    return response


# --- The store's notes (managers) -------------------------------------------------------------------


@role_required(Role.MANAGER)
def store_notes(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "open")
    stores = stores_in_scope(request)
    notes = list(sel.store_notes(user=request.user, stores=stores, status=status)[:500])
    choices_by_store = {s.pk: sel.writers_choices(store_id=s.pk) for s in stores}
    rows = [
        (n, ReassignForm(choices=choices_by_store.get(n.store_id, []), initial={"assigned_to": n.assigned_to_id}))
        for n in notes
    ]
    per_writer: dict[str, list[int]] = {}
    for n in notes:
        name = (n.assigned_to.get_full_name() or n.assigned_to.get_username()) if n.assigned_to else _("Nobody")
        counts = per_writer.setdefault(name, [0, 0])
        counts[0] += 1
        counts[1] += n.status == NoteStatus.POSTED
    return render(
        request,
        "outreach/notes/store_notes.html",
        {
            "rows": rows,
            "status": status,
            "statuses": [("open", _("To write or post")), *NoteStatus.choices, ("all", _("All"))],
            "per_writer": sorted(per_writer.items()),
            "layouts": LAYOUTS,
        },
    )


@role_required(Role.MANAGER)
@require_POST
def note_reassign_view(request: HttpRequest, pk: int) -> HttpResponse:
    note = sel.note_get(user=request.user, pk=pk)
    form = ReassignForm(request.POST, choices=sel.writers_choices(store_id=note.store_id))
    if not form.is_valid():
        messages.error(request, _("Pick someone who writes notes for this store."))
    else:
        try:
            note_reassign(note=note, to_user_id=form.cleaned_data["assigned_to"])
            messages.success(request, _("Note reassigned."))
        except (PermissionDenied, ValidationError) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    return redirect(_back(request, reverse("notes:store")))


# --- Campaigns (managers) ---------------------------------------------------------------------------


@role_required(Role.MANAGER)
def campaign_list(request: HttpRequest) -> HttpResponse:
    return render(request, "outreach/campaigns/campaign_list.html", {"campaigns": sel.campaign_list(user=request.user)})


def _may_edit(request: HttpRequest, campaign) -> None:
    if campaign.store_id is None and not access_for(request.user).at_least(Role.OWNER):
        raise PermissionDenied


@role_required(Role.MANAGER)
def campaign_form(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    campaign = sel.campaign_get(user=request.user, pk=pk) if pk else None
    if campaign is not None:
        _may_edit(request, campaign)
    initial = {}
    if campaign is None and request.GET.get("kind") in CampaignKind.values:
        initial["kind"] = request.GET["kind"]
    form = CampaignForm(request.POST or None, instance=campaign, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        saved = form.save_with_templates(by=request.user)
        messages.success(request, _("Campaign saved. Check the preview before queueing."))
        return redirect("notes:campaign_detail", pk=saved.pk)
    return render(request, "outreach/campaigns/campaign_form.html", {"form": form, "campaign": campaign})


@role_required(Role.MANAGER)
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The preview (who would be contacted, skipped and why, held out, a sample) and the results so far."""
    campaign = sel.campaign_get(user=request.user, pk=pk)
    access = access_for(request.user)
    return render(
        request,
        "outreach/campaigns/campaign_detail.html",
        {
            "campaign": campaign,
            "preview": campaign_preview(campaign=campaign, as_of=timezone.now()),
            # A manager sees their stores' part of a chain campaign, never another store's.
            "results": campaign_results(campaign, store_ids=None if access.chain_wide else sorted(access.store_ids)),
            "may_edit": campaign.store_id is not None or access.at_least(Role.OWNER),
        },
    )


@role_required(Role.MANAGER)
@require_POST
def campaign_queue(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = sel.campaign_get(user=request.user, pk=pk)
    _may_edit(request, campaign)
    now = timezone.now()
    run = notes_queue(as_of=now, campaign_ids=[campaign.pk], now=now)
    skipped = run.counts.get(str(campaign.pk), {}).get("skipped", {})
    why = ", ".join(f"{n} {SKIP_REASONS[r]}" for r, n in skipped.items())
    messages.success(
        request,
        _("%(created)s notes queued, %(held)s held out, %(skipped)s skipped%(why)s. Staff see them in My notes.")
        % {"created": run.created, "held": run.held_out, "skipped": run.skipped, "why": f" ({why})" if why else ""},
    )
    return redirect("notes:campaign_detail", pk=campaign.pk)


# --- Unsubscribe (public) ---------------------------------------------------------------------------


@csrf_exempt  # RFC 8058 one-click POSTs come from mail providers, without our CSRF cookie
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET: a confirmation page (link scanners must not unsubscribe anyone). POST: unsubscribe."""
    from .emails import customer_unsubscribe, unsubscribe_token_read

    try:
        unsubscribe_token_read(token)
    except signing.BadSignature:
        return render(request, "outreach/emails/unsubscribe.html", {"invalid": True}, status=400)
    if request.method == "POST":
        customer_unsubscribe(token=token, at=timezone.now())
        return render(request, "outreach/emails/unsubscribe.html", {"done": True})
    return render(request, "outreach/emails/unsubscribe.html", {"token": token})
