"""The sign-up kiosk: a shop tablet on which customers sign themselves up.

How it stays safe on a tablet anyone can touch:
- Only a logged-in member of staff can open it, for one of their stores, confirming
  their kiosk PIN (chosen on first use, stored hashed on their Membership).
- Opening it **logs the staff account out** and keeps only a kiosk marker in the
  fresh session: whoever stands at the tablet is anonymous, so every staff screen
  sends them to the login page. The kiosk pages themselves have no navigation.
- The finish screen shows only the card just issued; the next form forgets it.
- Staff leave with their PIN, which logs them back in. Five wrong PINs end the
  kiosk session: from then on only the full login (username and password) works.
"""

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from . import services
from .access import access_for, role_required, stores_for
from .cards import card_barcode_svg, card_qr_svg
from .forms import KioskExitForm, KioskPinChangeForm, KioskStartForm, SignupForm
from .models import Customer, Membership, Role, Store

KIOSK_KEY = "regulars.kiosk"
MAX_PIN_FAILURES = 5


def _membership_for(user, store: Store) -> Membership | None:
    """The membership that lets ``user`` work in ``store``: their row for it, or their owner row."""
    rows = Membership.objects.filter(user=user, is_active=True)
    return rows.filter(store=store).first() or rows.filter(role=Role.OWNER, store__isnull=True).first()


def _kiosk(request: HttpRequest) -> dict | None:
    return request.session.get(KIOSK_KEY)


def kiosk_required(view):
    """Kiosk pages: open in a kiosk session; a logged-in member of staff is sent to start one."""

    def wrapped(request: HttpRequest, *args, **kwargs):
        if _kiosk(request) is not None:
            return view(request, *args, **kwargs)
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not access_for(request.user).at_least(Role.STAFF):
            raise PermissionDenied
        return redirect("customers:kiosk_start")

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    wrapped.required_role = Role.STAFF
    return never_cache(wrapped)


@role_required(Role.STAFF)
def kiosk_start(request: HttpRequest) -> HttpResponse:
    """Staff pick the store and confirm their PIN; the tablet then belongs to customers."""
    stores = stores_for(request.user)
    memberships = Membership.objects.filter(user=request.user, is_active=True)
    new_pin = not memberships.exclude(kiosk_pin="").exists()
    form = KioskStartForm(request.POST or None, stores=stores, new_pin=new_pin, initial={"store": stores.first()})
    if request.method == "POST" and form.is_valid():
        store = form.cleaned_data["store"]
        membership = _membership_for(request.user, store)
        if membership is None:
            raise PermissionDenied
        pin = form.cleaned_data["pin"]
        if new_pin or not membership.kiosk_pin:
            if not new_pin:
                # Reusing the PIN of another of their memberships: check it there first.
                known = memberships.exclude(kiosk_pin="").first()
                if not services.kiosk_pin_matches(membership=known, pin=pin):
                    form.add_error("pin", _("That is not your PIN."))
                    return render(request, "customers/kiosk_start.html", {"form": form, "new_pin": new_pin})
            services.kiosk_pin_set(membership=membership, pin=pin)
        elif not services.kiosk_pin_matches(membership=membership, pin=pin):
            form.add_error("pin", _("That is not your PIN."))
            return render(request, "customers/kiosk_start.html", {"form": form, "new_pin": new_pin})
        # logout() flushes the session: from here on the tablet is anonymous.
        logout(request)
        request.session[KIOSK_KEY] = {
            "store_id": store.pk,
            "membership_id": membership.pk,
            "failures": 0,
            "last_customer_id": None,
        }
        return redirect("customers:kiosk_signup")
    return render(request, "customers/kiosk_start.html", {"form": form, "new_pin": new_pin})


@role_required(Role.STAFF)
def kiosk_pin(request: HttpRequest) -> HttpResponse:
    """Change the kiosk PIN (on every store the user works in), with the account password."""
    form = KioskPinChangeForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        for membership in Membership.objects.filter(user=request.user, is_active=True):
            services.kiosk_pin_set(membership=membership, pin=form.cleaned_data["pin"])
        messages.success(request, _("Your kiosk PIN is changed."))
        return redirect("customers:kiosk_start")
    return render(request, "customers/kiosk_pin.html", {"form": form})


@kiosk_required
def kiosk_signup(request: HttpRequest) -> HttpResponse:
    """The five questions. On success: the customer, their consent and card exist; show the card."""
    kiosk = _kiosk(request)
    store = get_object_or_404(Store, pk=kiosk["store_id"])  # set by kiosk_start from the user's own stores
    form = SignupForm(request.POST or None, store=store)
    if request.method == "GET" and kiosk.get("last_customer_id"):
        kiosk["last_customer_id"] = None  # the previous person's card is no longer shown
        request.session.modified = True
    if request.method == "POST" and form.is_valid():
        membership = Membership.objects.select_related("user").get(pk=kiosk["membership_id"])
        try:
            customer = services.customer_signup(
                store=store,
                name=form.cleaned_data["name"],
                city=form.cleaned_data["city"],
                contact=form.cleaned_data["contact"],
                birthday=form.cleaned_data["birthday"],
                consents=form.consents(),
                wording=form.wording(),
                language=get_language() or "",
                at=timezone.now(),
                by=membership.user,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            kiosk["last_customer_id"] = customer.pk
            request.session.modified = True
            return redirect("customers:kiosk_done")
    return render(request, "customers/kiosk_signup.html", {"form": form, "store": store})


@kiosk_required
def kiosk_done(request: HttpRequest) -> HttpResponse:
    """The finish screen: the new card as barcode and QR; it resets itself for the next customer."""
    kiosk = _kiosk(request)
    customer = Customer.objects.filter(pk=kiosk.get("last_customer_id") or 0, erased_at__isnull=True).first()
    if customer is None:
        return redirect("customers:kiosk_signup")
    return render(
        request,
        "customers/kiosk_done.html",
        {
            "customer": customer,
            "barcode": card_barcode_svg(customer.card_number),
            "qr": card_qr_svg(customer.card_number, scale=6),
        },
    )


@kiosk_required
def kiosk_exit(request: HttpRequest) -> HttpResponse:
    """Staff type their PIN to leave kiosk mode and are logged back in."""
    kiosk = _kiosk(request)
    form = KioskExitForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        membership = (
            Membership.objects.select_related("user")
            .filter(pk=kiosk["membership_id"], is_active=True, user__is_active=True)
            .first()
        )
        if membership is not None and services.kiosk_pin_matches(membership=membership, pin=form.cleaned_data["pin"]):
            login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
            request.session.pop(KIOSK_KEY, None)
            messages.success(request, _("You left the sign-up kiosk."))
            return redirect("home")
        kiosk["failures"] = kiosk.get("failures", 0) + 1
        request.session.modified = True
        if kiosk["failures"] >= MAX_PIN_FAILURES:
            request.session.flush()
            messages.error(request, _("Too many wrong PINs: the kiosk is closed. Log in with your password."))
            return redirect("login")
        form.add_error("pin", _("Wrong PIN."))
    return render(request, "customers/kiosk_exit.html", {"form": form})
