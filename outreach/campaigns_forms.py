"""The campaign form: settings plus the wording in each shipped language (blank → the shipped words)."""

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Fieldset, Layout
from django import forms
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from customers.access import access_for, stores_for
from customers.models import Role

from .campaigns_wording import SHIPPED_LANGUAGES, default_wording
from .notes_models import Campaign, CampaignKind, CampaignTemplate, IncentiveKind

LANGUAGE_NAMES = {
    "en": "English",
    "ru": "Русский",
    "uz": "Oʻzbekcha",
    "fa": "فارسی",
    "bg": "Български",
    "tl": "Tagalog",
}


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = [
            "name",
            "kind",
            "store",
            "is_active",
            "channel_policy",
            "incentive_kind",
            "incentive_amount",
            "incentive_percent",
            "incentive_reward",
            "incentive_valid_days",
            "holdout_percent",
            "cooldown_days",
            "cost_per_note",
            "big_purchase_threshold",
            "interest_tag",
            "top_n",
            "filter_segment",
            "filter_min_visits",
        ]

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["store"].queryset = stores_for(user)
        self.fields["store"].required = not access_for(user).chain_wide
        self.fields["store"].empty_label = _("The whole chain")
        from loyalty.models import Reward

        self.fields["incentive_reward"].queryset = Reward.objects.filter(is_active=True)
        self.fields["incentive_kind"].help_text = _(
            "Thank-you notes carry no coupon — just thanks. Win-back notes should carry a real incentive."
        )
        kind = self.data.get("kind") or self.initial.get("kind") or getattr(self.instance, "kind", "") or "thank_you"
        existing = {t.language: t for t in self.instance.templates.all()} if self.instance.pk else {}
        layout_langs = []
        for lang in SHIPPED_LANGUAGES:
            subject, body = default_wording(kind, lang) or ("", "")
            current = existing.get(lang)
            self.fields[f"subject_{lang}"] = forms.CharField(
                label=_("Subject (%(lang)s)") % {"lang": LANGUAGE_NAMES[lang]},
                required=False,
                max_length=200,
                initial=current.subject if current else subject,
            )
            self.fields[f"body_{lang}"] = forms.CharField(
                label=_("Wording (%(lang)s)") % {"lang": LANGUAGE_NAMES[lang]},
                required=False,
                widget=forms.Textarea(attrs={"rows": 4, "dir": "rtl" if lang == "fa" else "ltr", "lang": lang}),
                initial=current.body if current else body,
                help_text=_(
                    "Placeholders: {first_name} {visits} {months_since} {favourite_store} {last_purchase} {staff}"
                ),
            )
            layout_langs += [f"subject_{lang}", f"body_{lang}"]
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            Fieldset(_("Who"), "name", "kind", "store", "is_active", "channel_policy"),
            Fieldset(
                _("Incentive"),
                "incentive_kind",
                "incentive_amount",
                "incentive_percent",
                "incentive_reward",
                "incentive_valid_days",
            ),
            Fieldset(_("Measuring and pacing"), "holdout_percent", "cooldown_days", "cost_per_note"),
            Fieldset(
                _("Kind settings"),
                "big_purchase_threshold",
                "interest_tag",
                "top_n",
                "filter_segment",
                "filter_min_visits",
            ),
            Fieldset(_("Wording"), *layout_langs),
        )

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        incentive = data.get("incentive_kind")
        if incentive == IncentiveKind.AMOUNT and not data.get("incentive_amount"):
            self.add_error("incentive_amount", _("Give the amount off."))
        if incentive == IncentiveKind.PERCENT and not data.get("incentive_percent"):
            self.add_error("incentive_percent", _("Give the percentage off (1–100)."))
        if incentive == IncentiveKind.REWARD and not data.get("incentive_reward"):
            self.add_error("incentive_reward", _("Pick the reward."))
        if kind == CampaignKind.BIG_PURCHASE and not data.get("big_purchase_threshold"):
            self.add_error("big_purchase_threshold", _("Give the ticket total that counts as a big purchase."))
        if kind == CampaignKind.NEW_ARRIVALS and not (data.get("interest_tag") or "").strip():
            self.add_error("interest_tag", _("Name the interest, e.g. jazz."))
        if data.get("store") is None and not access_for(self.user).at_least(Role.OWNER):
            self.add_error("store", _("Pick one of your stores; chain campaigns are for owners."))
        if not any((data.get(f"body_{lang}") or "").strip() for lang in SHIPPED_LANGUAGES):
            self.add_error("body_en", _("Write the wording in at least one language."))
        return data

    @transaction.atomic
    def save_with_templates(self, *, by) -> Campaign:
        campaign = self.save(commit=False)
        if not campaign.pk:
            campaign.created_by = by
        campaign.save()
        for lang in SHIPPED_LANGUAGES:
            body = (self.cleaned_data.get(f"body_{lang}") or "").strip()
            subject = (self.cleaned_data.get(f"subject_{lang}") or "").strip()
            if body:
                CampaignTemplate.objects.update_or_create(
                    campaign=campaign, language=lang, defaults={"subject": subject, "body": body}
                )
            else:
                CampaignTemplate.objects.filter(campaign=campaign, language=lang).delete()
        return campaign


class ReassignForm(forms.Form):
    assigned_to = forms.TypedChoiceField(label=_("Written by"), coerce=int)

    def __init__(self, *args, choices, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assigned_to"].choices = choices
