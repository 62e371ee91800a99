"""Loyalty screens: the counter (find, redeem, vouchers), adjustments, rewards, liability, rules, tiers.

Thin: check the role, fetch through a scoped selector, call one service.
"""

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from customers import services_pos
from customers.access import access_for, role_required, stores_for, stores_in_scope
from customers.attribution import return_code_in_query, return_code_normalise
from customers.models import Role
from customers.selectors import customer_get

from . import analytics, selectors, services
from .forms import AdjustForm, RedeemForm, ReturnCodeForm, RewardForm, RulesForm, TierForm, VoucherUseForm
from .models import EntrySource, ProgramRules

# --- The counter -------------------------------------------------------------------------


@role_required(Role.STAFF)
def counter(request: HttpRequest) -> HttpResponse:
    """Find a customer by card (a scan lands straight on their points) or by name."""
    query = request.GET.get("q", "").strip()
    code = return_code_in_query(query)
    if code:
        # A note's return code (or its voucher's), typed or scanned from the note's QR code.
        found = _return_code_customer(request, code)
        if found is not None:
            return found
    results = selectors.counter_search(user=request.user, stores=stores_in_scope(request), query=query)
    if query and query.isdigit() and len(results) == 1 and results[0].card_number == query:
        return redirect("loyalty:counter_customer", customer_pk=results[0].pk)
    return render(
        request,
        "loyalty/counter.html",
        {"query": query, "results": results[:25], "use_form": VoucherUseForm(), "code_form": ReturnCodeForm()},
    )


def _return_code_customer(request, code: str) -> HttpResponse | None:
    """The counter page of the customer a note with ``code`` was written to (if the user may see them)."""
    try:
        found = services_pos.return_code_find(code=code)
        customer = customer_get(user=request.user, pk=found.customer_id)
    except (services_pos.ReturnCodeRefused, Http404):
        return None
    messages.info(request, _("Return code %(code)s: a note to this customer.") % {"code": found.code})
    return redirect("loyalty:counter_customer", customer_pk=customer.pk)


@require_POST
@role_required(Role.STAFF)
def return_code(request: HttpRequest) -> HttpResponse:
    """Record a note's return code on a sale (or, without a ticket number, find the note's customer)."""
    form = ReturnCodeForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Type or scan the return code."))
        return redirect("loyalty:counter")
    code, number = form.cleaned_data["code"], form.cleaned_data["ticket_number"]
    if not number:
        found = _return_code_customer(request, code)
        if found is None:
            messages.error(request, _("No note has the return code %(code)s.") % {"code": return_code_normalise(code)})
            return redirect("loyalty:counter")
        return found
    try:
        ticket = services_pos.ticket_return_code_record(
            stores=stores_for(request.user), number=number, code=code, by=request.user
        )
    except services_pos.ReturnCodeRefused as refusal:
        messages.error(request, refusal.message)
        return redirect("loyalty:counter")
    messages.success(
        request,
        _("Return code %(code)s recorded on ticket %(number)s.")
        % {"code": ticket.return_code, "number": ticket.number},
    )
    if ticket.customer_id is not None:
        return redirect("loyalty:counter_customer", customer_pk=ticket.customer_id)
    return redirect("loyalty:counter")


def _counter_context(request, customer, **extra) -> dict:
    summary = selectors.account_summary(customer=customer, as_of=timezone.now())
    return {
        "customer": customer,
        "summary": summary,
        "entries": selectors.account_entries(account=summary.account, limit=10),
        "redeem_form": RedeemForm(),
        "can_adjust": access_for(request.user).at_least(Role.MANAGER),
        **extra,
    }


@role_required(Role.STAFF)
def counter_customer(request: HttpRequest, customer_pk: int) -> HttpResponse:
    """Balance, tier, expiring points and the rewards the customer can take now."""
    customer = customer_get(user=request.user, pk=customer_pk)
    return render(request, "loyalty/counter_customer.html", _counter_context(request, customer))


@require_POST
@role_required(Role.STAFF)
def redeem(request: HttpRequest, customer_pk: int) -> HttpResponse:
    """Redeem one reward; a double tap posts once (the form's nonce is the idempotency key)."""
    customer = customer_get(user=request.user, pk=customer_pk)
    form = RedeemForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Pick a reward to redeem."))
        return redirect("loyalty:counter_customer", customer_pk=customer.pk)
    reward = selectors.reward_list(user=request.user).filter(pk=form.cleaned_data["reward"]).first()
    if reward is None:
        messages.error(request, _("That reward is not offered in your store."))
        return redirect("loyalty:counter_customer", customer_pk=customer.pk)
    try:
        voucher = services.points_redeem(
            account=services.account_open(customer=customer),
            reward=reward,
            store=customer.home_store,
            by=request.user,
            key=f"counter:{form.cleaned_data['nonce']}",
            source=EntrySource.COUNTER,
            as_of=timezone.now(),
        )
    except services.LoyaltyError as refusal:
        messages.error(request, refusal.message)
        return redirect("loyalty:counter_customer", customer_pk=customer.pk)
    messages.success(
        request,
        _("Redeemed %(reward)s for %(points)s points. Give the customer the code below.")
        % {"reward": reward.name, "points": reward.points_cost},
    )
    return redirect("loyalty:voucher", code=voucher.code)


@role_required(Role.STAFF)
def voucher_detail(request: HttpRequest, code: str) -> HttpResponse:
    """The voucher to show or print: code, barcode-friendly text, what it is worth, expiry, whether used."""
    voucher = selectors.voucher_get(user=request.user, code=code)
    return render(
        request,
        "loyalty/voucher.html",
        {"voucher": voucher, "used": getattr(voucher, "use", None) if hasattr(voucher, "use") else None},
    )


@require_POST
@role_required(Role.STAFF)
def voucher_use(request: HttpRequest) -> HttpResponse:
    form = VoucherUseForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Type the voucher code."))
        return redirect("loyalty:counter")
    try:
        use = services.voucher_use(
            code=form.cleaned_data["code"],
            stores=stores_for(request.user),
            by=request.user,
            source=EntrySource.COUNTER,
            as_of=timezone.now(),
            ticket_number=form.cleaned_data["ticket_number"],
        )
    except services.LoyaltyError as refusal:
        messages.error(request, refusal.message)
        return redirect("loyalty:counter")
    messages.success(
        request, _("Voucher %(code)s accepted: %(label)s.") % {"code": use.voucher.code, "label": use.voucher.label}
    )
    return redirect("loyalty:counter")


@role_required(Role.MANAGER)
def adjust(request: HttpRequest, customer_pk: int) -> HttpResponse:
    """A manager adds or removes points, with a reason (audited)."""
    customer = customer_get(user=request.user, pk=customer_pk)
    form = AdjustForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            entry = services.points_adjust(
                account=services.account_open(customer=customer),
                points=form.cleaned_data["points"],
                reason=form.cleaned_data["reason"],
                by=request.user,
                key=f"form:{form.cleaned_data['nonce']}",
                as_of=timezone.now(),
            )
        except services.LoyaltyError as refusal:
            form.add_error("points", refusal.message)
        else:
            messages.success(
                request,
                _("Adjusted by %(points)+d points; the balance is now %(balance)s.")
                % {"points": entry.points, "balance": entry.balance_after},
            )
            return redirect("loyalty:counter_customer", customer_pk=customer.pk)
    return render(request, "loyalty/adjust_form.html", _counter_context(request, customer, form=form))


# --- Rewards ---------------------------------------------------------------------------------


@role_required(Role.MANAGER)
def reward_list(request: HttpRequest) -> HttpResponse:
    return render(request, "loyalty/reward_list.html", {"rewards": selectors.reward_list(user=request.user)})


def _reward_form(request, instance=None):
    return RewardForm(
        request.POST or None,
        request.FILES or None,
        instance=instance,
        stores=stores_for(request.user),
        chain_wide=access_for(request.user).chain_wide,
    )


@role_required(Role.MANAGER)
def reward_create(request: HttpRequest) -> HttpResponse:
    form = _reward_form(request)
    if request.method == "POST" and form.is_valid():
        reward = form.save()
        messages.success(request, _("Reward %(name)s added to the catalogue.") % {"name": reward.name})
        return redirect("loyalty:reward_list")
    return render(request, "loyalty/reward_form.html", {"form": form})


@role_required(Role.MANAGER)
def reward_edit(request: HttpRequest, pk: int) -> HttpResponse:
    reward = selectors.reward_get_for_edit(user=request.user, pk=pk)
    form = _reward_form(request, instance=reward)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Reward %(name)s saved.") % {"name": reward.name})
        return redirect("loyalty:reward_list")
    return render(request, "loyalty/reward_form.html", {"form": form, "reward": reward})


# --- Reports and rules -------------------------------------------------------------------------


@role_required(Role.MANAGER)
def liability(request: HttpRequest) -> HttpResponse:
    stores = stores_in_scope(request)
    now = timezone.now()
    rows = analytics.liability_by_store(stores=stores, as_of=now)
    return render(
        request,
        "loyalty/liability.html",
        {
            "rows": rows,
            "flow": analytics.points_flow_by_month(stores=stores, as_of=now),
            "horizons": analytics.HORIZONS,
        },
    )


@role_required(Role.MANAGER)
def rules_overview(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "loyalty/rules.html",
        {
            "chain": ProgramRules.objects.filter(store__isnull=True).first() or ProgramRules(),
            "rows": selectors.rules_rows(stores=stores_in_scope(request)),
            "tiers": selectors.tier_list(),
            "is_owner": access_for(request.user).chain_wide,
        },
    )


@role_required(Role.OWNER)
def rules_chain_edit(request: HttpRequest) -> HttpResponse:
    instance = ProgramRules.objects.filter(store__isnull=True).first() or ProgramRules()
    form = RulesForm(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("The chain's rules are saved. Stores without their own rules use them."))
        return redirect("loyalty:rules")
    return render(request, "loyalty/rules_form.html", {"form": form, "store": None})


@role_required(Role.MANAGER)
def rules_store_edit(request: HttpRequest, store_pk: int) -> HttpResponse:
    """A store's own rules: starts as a copy of the chain's; *Use the chain's rules* removes the override."""
    store = selectors.store_get(user=request.user, pk=store_pk)
    own = ProgramRules.objects.filter(store=store).first()
    if request.method == "POST" and "reset" in request.POST:
        if own is not None:
            own.delete()
        messages.success(request, _("%(store)s now follows the chain's rules.") % {"store": store.name})
        return redirect("loyalty:rules")
    if own is None:
        own = selectors.rules_for(None)
        own.pk, own.id, own.store = None, None, store
        own._state.adding = True
    form = RulesForm(request.POST or None, instance=own)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            rules = form.save(commit=False)
            rules.store = store
            rules.save()
        messages.success(request, _("%(store)s's own rules are saved.") % {"store": store.name})
        return redirect("loyalty:rules")
    return render(request, "loyalty/rules_form.html", {"form": form, "store": store})


@role_required(Role.OWNER)
def tier_create(request: HttpRequest) -> HttpResponse:
    form = TierForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        tier = form.save()
        messages.success(request, _("Tier %(name)s added; tonight's run places customers in it.") % {"name": tier.name})
        return redirect("loyalty:rules")
    return render(request, "loyalty/tier_form.html", {"form": form})


@role_required(Role.OWNER)
def tier_edit(request: HttpRequest, pk: int) -> HttpResponse:
    tier = selectors.tier_get(user=request.user, pk=pk)
    form = TierForm(request.POST or None, instance=tier)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Tier %(name)s saved.") % {"name": tier.name})
        return redirect("loyalty:rules")
    return render(request, "loyalty/tier_form.html", {"form": form, "tier": tier})
