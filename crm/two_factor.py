"""Optional TOTP two-factor for managers and owners (django-otp).

Set-up: the page shows a QR code for an authenticator app; the device counts
only once the user typed a valid code from it. From then on every login asks
for a code (SecondFactorMiddleware). Disabling also needs a valid code.
"""

from base64 import b32encode

import segno
from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from customers.access import role_required
from customers.models import Role


class CodeForm(forms.Form):
    code = forms.RegexField(
        regex=r"^\d{6}$",
        label=gettext_lazy("6-digit code from your authenticator app"),
        error_messages={"invalid": gettext_lazy("Enter the 6 digits shown in the app.")},
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "autofocus": True}),
    )


def _confirmed(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


@role_required(Role.MANAGER)
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    device = _confirmed(request.user)
    form = CodeForm(request.POST or None)
    if device is not None:
        # Turning two-factor off needs a valid code from the device.
        if request.method == "POST" and form.is_valid():
            if device.verify_token(form.cleaned_data["code"]):
                TOTPDevice.objects.filter(user=request.user).delete()
                messages.success(request, _("Two-factor sign-in is off. You can turn it on again at any time."))
                return redirect("two_factor_setup")
            form.add_error("code", _("That code is not valid. Check the time on your phone and try again."))
        return render(request, "registration/two_factor_setup.html", {"enabled": True, "form": form})

    pending, _created = TOTPDevice.objects.get_or_create(
        user=request.user, confirmed=False, defaults={"name": "authenticator"}
    )
    if request.method == "POST" and form.is_valid():
        if pending.verify_token(form.cleaned_data["code"]):
            pending.confirmed = True
            pending.save(update_fields=["confirmed"])
            otp_login(request, pending)
            messages.success(request, _("Two-factor sign-in is on. Each login will ask for a code from the app."))
            return redirect("home")
        form.add_error("code", _("That code is not valid. Check the time on your phone and try again."))
    qr_uri = segno.make(pending.config_url, error="m").svg_data_uri(scale=4)
    return render(
        request,
        "registration/two_factor_setup.html",
        {"enabled": False, "form": form, "qr_uri": qr_uri, "secret": b32encode(pending.bin_key).decode()},
    )


@role_required(Role.STAFF)
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    device = _confirmed(request.user)
    target = request.GET.get("next") or request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/"
    if device is None or request.user.is_verified():
        return redirect(target)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["code"]):
            otp_login(request, device)
            return redirect(target)
        form.add_error("code", _("That code is not valid. Check the time on your phone and try again."))
    return render(request, "registration/two_factor_verify.html", {"form": form, "next": target})
