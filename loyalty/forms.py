"""Forms of the loyalty screens. Each carries a one-time ``nonce`` where a double submit must not repeat."""

import uuid

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import ProgramRules, Reward, Tier


class NonceForm(forms.Form):
    """A hidden one-time key: submitting the same form twice (a double tap) posts once."""

    nonce = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4)


class RedeemForm(NonceForm):
    reward = forms.IntegerField(widget=forms.HiddenInput)


class AdjustForm(NonceForm):
    points = forms.IntegerField(
        label=_("Points"), help_text=_("Positive to add, negative to remove (never below zero).")
    )
    reason = forms.CharField(label=_("Reason"), max_length=255, help_text=_("Required; kept in the audit log."))

    def clean_points(self):
        points = self.cleaned_data["points"]
        if points == 0:
            raise forms.ValidationError(_("Enter a number of points other than 0."))
        if abs(points) > 1_000_000:
            raise forms.ValidationError(_("That is more than a million points; check the number."))
        return points


class VoucherUseForm(NonceForm):
    code = forms.CharField(label=_("Voucher code"), max_length=16)
    ticket_number = forms.CharField(label=_("Ticket number"), max_length=64, required=False)


class ReturnCodeForm(forms.Form):
    """A note's return code, typed or scanned from its QR code; with a ticket number it credits that sale."""

    code = forms.CharField(label=_("Return code"), max_length=24)
    ticket_number = forms.CharField(label=_("Ticket number"), max_length=64, required=False)


class RewardForm(forms.ModelForm):
    class Meta:
        model = Reward
        fields = [
            "name",
            "description",
            "kind",
            "points_cost",
            "amount",
            "percent",
            "stock",
            "active_from",
            "active_until",
            "voucher_valid_days",
            "photo",
            "store",
            "is_active",
        ]
        widgets = {
            "active_from": forms.DateInput(attrs={"type": "date"}),
            "active_until": forms.DateInput(attrs={"type": "date"}),
            "description": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args, stores, chain_wide: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["store"].queryset = stores
        # Only someone who sees the whole chain may offer a reward in every store.
        self.fields["store"].required = not chain_wide
        self.fields["store"].empty_label = _("Every store") if chain_wide else None

    def clean(self):
        data = super().clean()
        start, end = data.get("active_from"), data.get("active_until")
        if start and end and end < start:
            self.add_error("active_until", _("The end date is before the start date."))
        return data


class RulesForm(forms.ModelForm):
    class Meta:
        model = ProgramRules
        fields = [
            "points_per_unit",
            "min_ticket",
            "cap_per_ticket",
            "display_points",
            "display_value",
            "welcome_bonus",
            "referral_bonus",
            "referral_friend_bonus",
            "birthday_bonus",
            "expiry_months",
            "expiry_warning_days",
        ]


class TierForm(forms.ModelForm):
    class Meta:
        model = Tier
        fields = ["name", "rank", "basis", "threshold", "earn_multiplier", "perks"]
        widgets = {"perks": forms.Textarea(attrs={"rows": 2})}
