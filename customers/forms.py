"""Forms of the customer file (crispy-forms, Bootstrap 5). Validation here is a courtesy; services decide."""

import re

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Div, Field, Layout, Submit
from django import forms
from django.utils.translation import gettext_lazy as _

from .models import ConsentChannel, Customer, Feedback, PurchaseTicket, Store
from .phones import phone_normalise

# What the customer reads next to each switch on the tablet. Stored with the consent
# event, in the language it was shown, so the shop can prove what was agreed to.
SIGNUP_WORDING = {
    ConsentChannel.EMAIL: _("Yes, send me emails about news and offers."),
    ConsentChannel.POST: _("Yes, send me a card or letter by post now and then."),
    ConsentChannel.SMS: _("Yes, send me text messages (SMS)."),
}

# What staff tick when a customer tells them in person.
STAFF_WORDING = {
    ConsentChannel.EMAIL: _("The customer agrees to receive emails from the shop."),
    ConsentChannel.POST: _("The customer agrees to receive cards and letters by post."),
    ConsentChannel.SMS: _("The customer agrees to receive text messages (SMS)."),
}


def _helper(submit_label, *, form_tag: bool = True) -> FormHelper:
    helper = FormHelper()
    helper.form_tag = form_tag
    if submit_label:
        helper.add_input(Submit("submit", submit_label, css_class="btn-primary"))
    return helper


class CustomerForm(forms.ModelForm):
    """Staff create and edit a customer record."""

    tags_text = forms.CharField(
        label=_("Interests and preferences"),
        required=False,
        help_text=_('Separate with commas, e.g. "kosher, size M, jazz".'),
    )
    referrer_card = forms.CharField(
        label=_("Referred by (card number)"),
        required=False,
        max_length=20,
        help_text=_("The card number of the customer who brought them, if any."),
    )

    class Meta:
        model = Customer
        fields = [
            "first_name",
            "last_name",
            "email",
            "phone",
            "city",
            "postal_address",
            "birthday",
            "preferred_language",
            "preferred_channel",
            "home_store",
        ]
        widgets = {
            "birthday": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "postal_address": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, stores, find_card, **kwargs):
        super().__init__(*args, **kwargs)
        self.find_card = find_card
        self.fields["home_store"].queryset = stores
        self.fields["home_store"].empty_label = None
        self.fields["phone"].help_text = _("Local numbers are read in the home store's country.")
        if self.instance.pk:
            self.fields["tags_text"].initial = ", ".join(self.instance.tags.values_list("name", flat=True))
            if self.instance.referred_by_id:
                self.fields["referrer_card"].initial = self.instance.referred_by.card_number
        self.helper = _helper(_("Save"))
        self.helper.layout = Layout(
            Div(Div("first_name", css_class="col-md-6"), Div("last_name", css_class="col-md-6"), css_class="row"),
            Div(Div("email", css_class="col-md-6"), Div("phone", css_class="col-md-6"), css_class="row"),
            Div(Div("city", css_class="col-md-6"), Div("birthday", css_class="col-md-6"), css_class="row"),
            "postal_address",
            "tags_text",
            Div(
                Div("preferred_channel", css_class="col-md-4"),
                Div("preferred_language", css_class="col-md-4"),
                Div("home_store", css_class="col-md-4"),
                css_class="row",
            ),
            "referrer_card",
        )

    def clean_referrer_card(self):
        card = self.cleaned_data.get("referrer_card", "").strip()
        if not card:
            return None
        referrer = self.find_card(card)
        if referrer is None:
            raise forms.ValidationError(_("No customer of your stores has this card number."))
        if self.instance.pk and referrer.pk == self.instance.pk:
            raise forms.ValidationError(_("A customer cannot refer themselves."))
        return referrer

    def clean(self):
        data = super().clean()
        # Phone validity depends on the store, which is cleaned after the phone field.
        phone = data.get("phone")
        store = data.get("home_store")
        if phone and store is not None and phone_normalise(phone, region=store.country) is None:
            self.add_error("phone", _("This is not a valid phone number for %(country)s.") % {"country": store.country})
        return data

    def service_kwargs(self) -> dict:
        data = dict(self.cleaned_data)
        from .services import tags_from_text

        data["tags"] = tags_from_text(data.pop("tags_text", ""))
        data["referred_by"] = data.pop("referrer_card", None)
        return data


class ServiceNoteForm(forms.Form):
    text = forms.CharField(
        label=_("Service note"),
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": _("What did you learn? e.g. prefers morning visits")}),
        max_length=4000,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = _helper(_("Add note"), form_tag=False)


class FeedbackForm(forms.Form):
    kind = forms.ChoiceField(label=_("What happened"), choices=Feedback.Kind.choices, widget=forms.RadioSelect)
    reason = forms.ChoiceField(label=_("Why"), choices=Feedback.Reason.choices, widget=forms.RadioSelect)
    ticket = forms.ModelChoiceField(
        label=_("Ticket (optional)"), queryset=PurchaseTicket.objects.none(), required=False
    )
    text = forms.CharField(
        label=_("In their words"), widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=4000
    )

    def __init__(self, *args, customer: Customer, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["ticket"].queryset = PurchaseTicket.objects.filter(
            pk__in=list(customer.tickets.order_by("-purchased_at").values_list("pk", flat=True)[:50])
        ).select_related("store")
        self.fields["ticket"].label_from_instance = lambda t: (
            f"{t.purchased_at:%Y-%m-%d} · {t.store.code}/{t.number} · {t.total} {t.store.currency}"
        )
        self.helper = _helper(_("Save"))


class FeedbackResponseForm(forms.ModelForm):
    class Meta:
        model = Feedback
        fields = ["response", "status"]
        widgets = {"response": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = _helper(_("Save answer"))

    def clean(self):
        data = super().clean()
        if data.get("status") == Feedback.Status.ANSWERED and not (data.get("response") or "").strip():
            self.add_error("response", _("Write the answer you gave before marking it answered."))
        return data


class ConsentForm(forms.Form):
    """What the customer told staff in person: one switch per channel, plus "do not contact"."""

    email = forms.BooleanField(label=STAFF_WORDING[ConsentChannel.EMAIL], required=False)
    post = forms.BooleanField(label=STAFF_WORDING[ConsentChannel.POST], required=False)
    sms = forms.BooleanField(label=STAFF_WORDING[ConsentChannel.SMS], required=False)
    do_not_contact = forms.BooleanField(
        label=_("Do not contact this person at all (overrides everything above)."), required=False
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = _helper(_("Save consent"))
        self.helper.layout = Layout(
            *(Field(name, wrapper_class="form-switch") for name in ("email", "post", "sms", "do_not_contact"))
        )


class SignupForm(forms.Form):
    """The five questions on the shop's tablet. Big, plain, one column."""

    name = forms.CharField(label=_("Your name"), max_length=160, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    city = forms.CharField(label=_("Your city"), max_length=80, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    contact = forms.CharField(
        label=_("Email or phone number"),
        max_length=254,
        help_text=_("So we can reach you. We never share it with anyone."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "email"}),
    )
    consent_email = forms.BooleanField(label=SIGNUP_WORDING[ConsentChannel.EMAIL], required=False)
    consent_post = forms.BooleanField(label=SIGNUP_WORDING[ConsentChannel.POST], required=False)
    consent_sms = forms.BooleanField(label=SIGNUP_WORDING[ConsentChannel.SMS], required=False)
    birthday = forms.DateField(
        label=_("Your birthday (optional)"),
        required=False,
        help_text=_("We like to say happy birthday."),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def __init__(self, *args, store: Store, **kwargs):
        super().__init__(*args, **kwargs)
        self.store = store
        for name in ("name", "city", "contact", "birthday"):
            self.fields[name].widget.attrs["class"] = "form-control form-control-lg"
        self.helper = _helper(_("Get my card"))
        self.helper.inputs[0].field_classes = "btn btn-primary btn-lg w-100 py-3"
        self.helper.layout = Layout(
            "name",
            "city",
            "contact",
            Div(
                *(Field(f"consent_{c}", wrapper_class="form-switch fs-5") for c in ("email", "post", "sms")),
                css_class="consent-switches mb-3",
            ),
            "birthday",
        )

    def clean_contact(self):
        contact = self.cleaned_data["contact"].strip()
        if "@" in contact:
            try:
                forms.EmailField().clean(contact)
            except forms.ValidationError as exc:
                raise forms.ValidationError(_("This email address does not look right.")) from exc
        elif phone_normalise(contact, region=self.store.country) is None:
            raise forms.ValidationError(_("This phone number does not look right. Check the digits."))
        return contact

    def consents(self) -> dict[str, bool]:
        return {c.value: bool(self.cleaned_data.get(f"consent_{c.value}")) for c in ConsentChannel}

    @staticmethod
    def wording() -> dict[str, str]:
        return {c.value: str(text) for c, text in SIGNUP_WORDING.items()}


PIN_RE = re.compile(r"^\d{4,8}$")


def _check_pin(pin: str) -> str:
    if not PIN_RE.match(pin):
        raise forms.ValidationError(_("Use 4 to 8 digits."))
    if len(set(pin)) == 1 or pin in "0123456789" or pin in "9876543210":
        raise forms.ValidationError(_("Too easy to guess: avoid repeated or consecutive digits."))
    return pin


class KioskStartForm(forms.Form):
    """Staff open the sign-up kiosk for one of their stores, confirming (or choosing) their PIN."""

    store = forms.ModelChoiceField(label=_("Store"), queryset=Store.objects.none(), empty_label=None)
    pin = forms.CharField(
        label=_("Your kiosk PIN"),
        widget=forms.PasswordInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
        max_length=8,
    )
    pin_again = forms.CharField(
        label=_("The same PIN again"),
        widget=forms.PasswordInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
        max_length=8,
        required=False,
    )

    def __init__(self, *args, stores, new_pin: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.new_pin = new_pin
        self.fields["store"].queryset = stores
        if new_pin:
            self.fields["pin"].label = _("Choose a kiosk PIN (4 to 8 digits)")
            self.fields["pin"].help_text = _("You will type it to leave the kiosk. Keep it to yourself.")
            self.fields["pin_again"].required = True
        else:
            del self.fields["pin_again"]
            self.fields["pin"].help_text = _("You will need it again to leave the kiosk.")
        self.helper = _helper(_("Start the sign-up kiosk"))

    def clean_pin(self):
        pin = self.cleaned_data["pin"].strip()
        return _check_pin(pin) if self.new_pin else pin

    def clean(self):
        data = super().clean()
        if self.new_pin and data.get("pin") and data.get("pin") != data.get("pin_again"):
            self.add_error("pin_again", _("The two PINs are not the same."))
        return data


class KioskPinChangeForm(forms.Form):
    """Change the kiosk PIN; proving it is you takes the account password."""

    password = forms.CharField(label=_("Your password"), widget=forms.PasswordInput)
    pin = forms.CharField(label=_("New kiosk PIN"), widget=forms.PasswordInput(attrs={"inputmode": "numeric"}))
    pin_again = forms.CharField(
        label=_("The same PIN again"), widget=forms.PasswordInput(attrs={"inputmode": "numeric"})
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.helper = _helper(_("Save PIN"))

    def clean_password(self):
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(_("That is not your password."))
        return password

    def clean_pin(self):
        return _check_pin(self.cleaned_data["pin"].strip())

    def clean(self):
        data = super().clean()
        if data.get("pin") and data.get("pin") != data.get("pin_again"):
            self.add_error("pin_again", _("The two PINs are not the same."))
        return data


class KioskExitForm(forms.Form):
    pin = forms.CharField(
        label=_("Staff PIN"),
        max_length=8,
        widget=forms.PasswordInput(
            attrs={"inputmode": "numeric", "autocomplete": "off", "class": "form-control form-control-lg"}
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = _helper(_("Leave the kiosk"))
