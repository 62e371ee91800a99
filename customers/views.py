"""Screens of the customer file. Thin: check access, validate, call a selector or service.

The sign-up kiosk's screens are in ``kiosk.py``.
"""

import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from . import selectors, services
from .access import SESSION_STORE_KEY, role_required, stores_for, stores_in_scope
from .attribution import return_code_in_query
from .cards import card_barcode_svg, card_qr_svg
from .forms import (
    STAFF_WORDING,
    ConsentForm,
    CustomerForm,
    FeedbackForm,
    FeedbackResponseForm,
    ServiceNoteForm,
)
from .models import ConsentChannel, ConsentEvent, ConsentSource, Role
from .timeline import timeline_for


def _store_for_action(request: HttpRequest, customer):
    """The store an action happens in: the one chosen in the switcher, else the customer's home store."""
    scoped = stores_in_scope(request)
    return scoped.first() if scoped.count() == 1 else customer.home_store


@role_required(Role.STAFF)
def home(request: HttpRequest) -> HttpResponse:
    """Today: the counter's start page (search, sign-up, my notes)."""
    return render(request, "customers/home.html", {"stores": stores_in_scope(request)})


@role_required(Role.STAFF)
def customer_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:100]
    stores = stores_in_scope(request)
    # A note's return code typed or scanned from the card the customer brought back: straight to them.
    found = selectors.customer_by_return_code(user=request.user, stores=stores, query=query)
    if found is not None:
        messages.info(
            request, _("Return code %(code)s: a note to this customer.") % {"code": return_code_in_query(query)}
        )
        return redirect(found)
    customers = selectors.customer_list(user=request.user, stores=stores, query=query, by_code=False)
    page = selectors.page_of(customers, page=request.GET.get("page"))
    return render(request, "customers/customer_list.html", {"page": page, "query": query})


@role_required(Role.STAFF)
def customer_create(request: HttpRequest) -> HttpResponse:
    stores = stores_in_scope(request)
    form = CustomerForm(
        request.POST or None,
        stores=stores,
        find_card=lambda card: selectors.customer_by_card(user=request.user, card_number=card),
    )
    if request.method == "POST" and form.is_valid():
        data = form.service_kwargs()
        try:
            customer = services.customer_create(store=data["home_store"], by=request.user, **data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request, _("Customer created. Their card number is %(card)s.") % {"card": customer.card_number}
            )
            return redirect(customer)
    return render(request, "customers/customer_form.html", {"form": form, "customer": None})


@role_required(Role.STAFF)
def customer_edit(request: HttpRequest, pk: int) -> HttpResponse:
    customer = selectors.customer_get(user=request.user, pk=pk)
    if customer.is_erased:
        messages.error(request, _("This customer's data was erased; there is nothing to edit."))
        return redirect(customer)
    form = CustomerForm(
        request.POST or None,
        instance=customer,
        stores=stores_for(request.user),
        find_card=lambda card: selectors.customer_by_card(user=request.user, card_number=card),
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.customer_update(customer=customer, by=request.user, **form.service_kwargs())
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect(customer)
    return render(request, "customers/customer_form.html", {"form": form, "customer": customer})


@role_required(Role.STAFF)
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    customer = selectors.customer_get(user=request.user, pk=pk)
    return render(
        request,
        "customers/customer_detail.html",
        {
            "customer": customer,
            "summary": selectors.customer_visit_summary(customer=customer),
            "open_complaints": selectors.customer_open_complaints(customer=customer),
            "timeline": timeline_for(customer, limit=40),
            "tags": list(customer.tags.all()),
            "note_form": ServiceNoteForm(),
            "barcode": None if customer.is_erased else card_barcode_svg(customer.card_number),
        },
    )


@require_POST
@role_required(Role.STAFF)
def note_add(request: HttpRequest, pk: int) -> HttpResponse:
    customer = selectors.customer_get(user=request.user, pk=pk)
    form = ServiceNoteForm(request.POST)
    if form.is_valid() and not customer.is_erased:
        services.service_note_add(
            customer=customer,
            text=form.cleaned_data["text"],
            by=request.user,
            store=_store_for_action(request, customer),
        )
        messages.success(request, _("Note added."))
    else:
        messages.error(request, _("The note was empty: nothing was saved."))
    return redirect(customer)


@role_required(Role.STAFF)
def feedback_add(request: HttpRequest, pk: int) -> HttpResponse:
    customer = selectors.customer_get(user=request.user, pk=pk)
    initial = {"kind": request.GET.get("kind", "complaint"), "reason": "not_fit"}
    form = FeedbackForm(request.POST or None, customer=customer, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.feedback_record(
                customer=customer,
                by=request.user,
                at=timezone.now(),
                store=_store_for_action(request, customer),
                **form.cleaned_data,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Recorded. Open complaints show at the top of the customer page."))
            return redirect(customer)
    return render(request, "customers/feedback_form.html", {"form": form, "customer": customer})


@role_required(Role.STAFF)
def feedback_detail(request: HttpRequest, pk: int) -> HttpResponse:
    feedback = selectors.feedback_get(user=request.user, pk=pk)
    form = FeedbackResponseForm(request.POST or None, instance=feedback)
    if request.method == "POST" and form.is_valid():
        services.feedback_respond(
            feedback=feedback,
            response=form.cleaned_data["response"],
            status=form.cleaned_data["status"],
            by=request.user,
            at=timezone.now(),
        )
        messages.success(request, _("Answer saved."))
        return redirect(feedback.customer)
    return render(request, "customers/feedback_detail.html", {"feedback": feedback, "form": form})


@role_required(Role.STAFF)
def consent_edit(request: HttpRequest, pk: int) -> HttpResponse:
    customer = selectors.customer_get(user=request.user, pk=pk)
    initial = {**customer.consents(), "do_not_contact": customer.do_not_contact}
    form = ConsentForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid() and not customer.is_erased:
        now = timezone.now()
        store = _store_for_action(request, customer)
        changed = 0
        for channel in ConsentChannel:
            changed += bool(
                services.consent_record(
                    customer=customer,
                    channel=channel.value,
                    granted=form.cleaned_data[channel.value],
                    source=ConsentSource.STORE,
                    by=request.user,
                    store=store,
                    wording=str(STAFF_WORDING[channel]),
                    at=now,
                )
            )
        changed += bool(
            services.consent_record(
                customer=customer,
                channel=ConsentEvent.ALL,
                granted=not form.cleaned_data["do_not_contact"],
                source=ConsentSource.STORE,
                by=request.user,
                store=store,
                wording=str(form.fields["do_not_contact"].label),
                at=now,
            )
        )
        if changed:
            messages.success(request, _("Consent saved (%(n)s change(s) recorded).") % {"n": changed})
        else:
            messages.info(request, _("Nothing changed."))
        return redirect(customer)
    history = customer.consent_events.select_related("by", "store").order_by("-at", "-id")[:50]
    return render(request, "customers/consent_form.html", {"form": form, "customer": customer, "history": history})


@role_required(Role.STAFF)
def customer_card(request: HttpRequest, pk: int) -> HttpResponse:
    """A printable loyalty card: barcode, QR code and number, credit-card sized."""
    customer = selectors.customer_get(user=request.user, pk=pk)
    if customer.is_erased:
        return redirect(customer)
    return render(
        request,
        "customers/customer_card.html",
        {
            "customer": customer,
            "barcode": card_barcode_svg(customer.card_number),
            "qr": card_qr_svg(customer.card_number),
        },
    )


@role_required(Role.STAFF)
def customer_sheet(request: HttpRequest, pk: int) -> HttpResponse:
    """The customer sheet as a PDF, for shops that keep paper files."""
    from weasyprint import HTML

    customer = selectors.customer_get(user=request.user, pk=pk)
    html = render_to_string(
        "customers/customer_sheet.html",
        {
            "customer": customer,
            "summary": selectors.customer_visit_summary(customer=customer),
            "timeline": timeline_for(customer, limit=200),
            "tags": list(customer.tags.all()),
            "barcode": None if customer.is_erased else card_barcode_svg(customer.card_number),
            "printed_at": timezone.now(),
        },
        request=request,
    )
    pdf = HTML(string=html, base_url=request.build_absolute_uri("/")).write_pdf()
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="customer-{customer.pk}.pdf"'
    return response


@role_required(Role.MANAGER)
def customer_data_export(request: HttpRequest, pk: int) -> HttpResponse:
    """Everything we hold about one person, as a JSON download (audited)."""
    customer = selectors.customer_get(user=request.user, pk=pk)
    try:
        data = services.customer_data_export(customer=customer, by=request.user, at=timezone.now())
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(customer)
    response = HttpResponse(
        json.dumps(data, ensure_ascii=False, indent=2), content_type="application/json; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="customer-{customer.pk}.json"'
    return response


@role_required(Role.MANAGER)
def customer_erase(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirm, then erase a person's personal data (their request under data-protection law)."""
    customer = selectors.customer_get(user=request.user, pk=pk)
    if request.method == "POST" and not customer.is_erased:
        if request.POST.get("confirm") != "ERASE":
            messages.error(request, _("Type ERASE in capitals to confirm."))
        else:
            services.customer_erase(customer=customer, by=request.user, at=timezone.now())
            messages.success(request, _("The customer's personal data was erased. Their tickets still count."))
            return redirect(customer)
    summary = selectors.customer_visit_summary(customer=customer)
    return render(request, "customers/customer_erase.html", {"customer": customer, "summary": summary})


@role_required(Role.MANAGER)
def duplicates(request: HttpRequest) -> HttpResponse:
    pairs = selectors.duplicate_pairs(user=request.user, stores=stores_in_scope(request))
    return render(request, "customers/duplicates.html", {"pairs": pairs})


@role_required(Role.MANAGER)
def merge(request: HttpRequest, keep: int, duplicate: int) -> HttpResponse:
    survivor, dup = selectors.duplicate_pair_get(user=request.user, keep_pk=keep, duplicate_pk=duplicate)
    if request.method == "POST":
        try:
            services.customers_merge(survivor=survivor, duplicate=dup, by=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("customers:duplicates")
        messages.success(request, _("Merged. Everything now sits on this record."))
        return redirect(survivor)
    context = {
        "survivor": survivor,
        "duplicate": dup,
        "survivor_summary": selectors.customer_visit_summary(customer=survivor),
        "duplicate_summary": selectors.customer_visit_summary(customer=dup),
    }
    return render(request, "customers/merge_confirm.html", context)


@require_POST
@role_required(Role.STAFF)
def store_switch(request: HttpRequest) -> HttpResponse:
    """Narrow every screen to one store (or back to all the user may see)."""
    code = request.POST.get("store", "")
    if code and not stores_for(request.user).filter(code=code).exists():
        messages.error(request, _("You do not work in that store."))
        code = ""
    request.session[SESSION_STORE_KEY] = code
    target = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/"
    return redirect(target)
