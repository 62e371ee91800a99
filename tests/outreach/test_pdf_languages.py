"""The printed papers in every language: task sheet (sheet and cards) and customer sheet.

Real notes are queued for a customer, a writer and a store of each language, printed through the views
in that language, and read back with pdftotext: the headings are translated and the suggested wording is
the shipped wording of that language. Persian pages lay out right-to-left (checked on the words' boxes)
with Noto Naskh Arabic embedded (pdffonts). The PDFs are kept under test-artifacts/i18n/<lang>-<kind>.pdf.
"""

import html
import re
import subprocess
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from customers.models import Role
from outreach.campaigns_wording import DEFAULT_WORDING
from outreach.notes import notes_queue
from outreach.notes_models import CampaignKind, Note, NoteStatus
from tests.conftest import ARTIFACTS, AS_OF
from tests.factories import MembershipFactory, StoreFactory, UserFactory

from .notes_helpers import best, campaign, consenting

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Shop:
    code: str
    time_zone: str
    currency: str
    country: str
    customer: tuple[str, str]
    writer: tuple[str, str]


SHOPS = {
    "en": Shop("LDN", "Europe/London", "GBP", "GB", ("Grace", "Miller"), ("Tom", "Baker")),
    "uz": Shop("CHZ", "Asia/Tashkent", "UZS", "UZ", ("Jasur", "Toshmatov"), ("Anna", "Karimova")),
    "ru": Shop("ARB", "Europe/Moscow", "RUB", "RU", ("Elena", "Petrova"), ("Olga", "Smirnova")),
    "fa": Shop("THR", "Asia/Tehran", "IRR", "IR", ("مریم", "رحیمی"), ("رضا", "کریمی")),
    "bg": Shop("SOF", "Europe/Sofia", "EUR", "BG", ("Petya", "Ivanova"), ("Georgi", "Dimitrov")),
    "tl": Shop("MNL", "Asia/Manila", "PHP", "PH", ("Maricel", "Santos"), ("Jose", "Reyes")),
}
LANGUAGES = [code for code, _name in settings.LANGUAGES]


def _run(*args: str) -> str:
    return subprocess.run(list(args), check=True, capture_output=True, text=True).stdout


# pdftotext wraps right-to-left runs in bidi embedding marks and drops the zero-width non-joiner
# of Persian words (می‌کنند → میکنند): compare without either.
_INVISIBLE = dict.fromkeys(map(ord, "\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"))


def _flat(text: str) -> str:
    return " ".join(text.translate(_INVISIBLE).split()).casefold()


@pytest.fixture
def printed(request, tmp_path, client):
    """``printed(lang)`` → {"sheet"|"cards"|"customer": path to the PDF} printed in ``lang``."""

    def _print(lang: str) -> tuple[dict, Note]:
        shop = SHOPS[lang]
        store = StoreFactory(
            code=shop.code,
            name=f"Shop {shop.code}",
            locale=lang,
            time_zone=shop.time_zone,
            currency=shop.currency,
            country=shop.country,
        )
        writer = UserFactory(username=f"writer-{lang}", first_name=shop.writer[0], last_name=shop.writer[1])
        MembershipFactory(user=writer, store=store, role=Role.STAFF)
        customer = consenting(store, first_name=shop.customer[0], last_name=shop.customer[1], preferred_language=lang)
        best(customer, rank=1)
        campaign(CampaignKind.THANK_YOU)
        notes_queue(as_of=AS_OF)
        note = Note.objects.get(customer=customer)
        client.force_login(writer)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = lang
        paths = {}
        for layout in ("sheet", "cards"):
            response = client.get(reverse("notes:print"), {"layout": layout})
            assert response.status_code == 200, layout
            paths[layout] = tmp_path / f"{lang}-{layout}.pdf"
            paths[layout].write_bytes(response.content)
        Note.objects.filter(pk=note.pk).update(status=NoteStatus.POSTED, posted_at=AS_OF)
        response = client.get(reverse("customers:sheet", args=[customer.pk]))
        assert response.status_code == 200
        paths["customer"] = tmp_path / f"{lang}-customer.pdf"
        paths["customer"].write_bytes(response.content)
        # Kept for a person to look at, beside the screenshots.
        (ARTIFACTS / "i18n").mkdir(parents=True, exist_ok=True)
        for kind, path in paths.items():
            (ARTIFACTS / "i18n" / f"{lang}-{kind}.pdf").write_bytes(path.read_bytes())
        return paths, note

    return _print


def _expected_wording(lang: str, first_name: str) -> str:
    """The opening line of the shipped thank-you wording of ``lang``, as it is printed."""
    body = DEFAULT_WORDING["thank_you"][lang][1]
    return body.split("\n")[0].replace("{first_name}", first_name)


def _words(path) -> tuple[float, list[tuple[str, float, float]]]:
    """The first page's width and (word, xMin, xMax) of each word on it (pdftotext -bbox)."""
    out = _run("pdftotext", "-bbox", "-f", "1", "-l", "1", str(path), "-")
    width = float(re.search(r'<page width="([\d.]+)"', out).group(1))
    pattern = r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)</word>'
    return width, [(html.unescape(m.group(3)), float(m.group(1)), float(m.group(2))) for m in re.finditer(pattern, out)]


def _extent(words, word: str) -> tuple[float, float]:
    """Where ``word`` sits (first occurrence); -bbox gives right-to-left words in visual order."""
    hits = [(x0, x1) for w, x0, x1 in words if w.translate(_INVISIBLE) in (word, word[::-1])]
    assert hits, f"{word!r} not found in {[w for w, *_ in words][:40]}"
    return hits[0]


def _check_direction_and_font(paths, lang):
    """Persian: the name ends at the right margin and Noto Naskh Arabic is embedded; else it starts at the left."""
    first, last = SHOPS[lang].customer
    for kind in ("sheet", "cards", "customer"):
        width, words = _words(paths[kind])
        # The recipient's (the customer's) name: the first name ends the line in Persian, starts it otherwise.
        first_x0, first_x1 = _extent(words, first)
        last_x0, last_x1 = _extent(words, last)
        if lang == "fa":
            assert first_x1 > width - 70, f"{kind}: the name ends at x={first_x1} of {width}, not at the right margin"
            assert last_x1 < first_x0, f"{kind}: the surname should stand left of the first name"
            fonts = _run("pdffonts", str(paths[kind]))
            assert "NotoNaskhArabic" in fonts.replace("-", ""), f"{kind}: no Persian font embedded:\n{fonts}"
        else:
            assert first_x0 < 70, f"{kind}: the name starts at x={first_x0}, not at the left margin"
            assert first_x1 < last_x0


@pytest.mark.parametrize("lang", LANGUAGES)
def test_task_sheet_cards_and_customer_sheet_read_back_in_the_language(printed, lang):
    """One printing per language (three PDFs): the texts, then how they lie on the page and in which font."""
    paths, note = printed(lang)
    assert note.language == lang
    greeting = _flat(_expected_wording(lang, SHOPS[lang].customer[0]))
    sheet = _flat(_run("pdftotext", str(paths["sheet"]), "-"))
    cards = _flat(_run("pdftotext", str(paths["cards"]), "-"))
    with translation.override(lang):
        headings = [
            _("Notes to write — %(name)s") % {"name": " ".join(SHOPS[lang].writer)},
            _("Why"),
            _("No coupon"),
            _("just thanks."),
            _("written"),
            _("posted"),
            str(CampaignKind.THANK_YOU.label),
        ]
    for text in headings:
        assert _flat(text) in sheet, f"{lang}: {text!r} missing from the task sheet"
    assert greeting in sheet, f"{lang}: the {lang} wording is not on the sheet"
    assert greeting in cards, f"{lang}: the {lang} wording is not on the card"
    assert _flat(" ".join(SHOPS[lang].customer)) in cards
    _check_customer_sheet(paths, lang)
    _check_direction_and_font(paths, lang)


def _check_customer_sheet(paths, lang):
    text = _flat(_run("pdftotext", str(paths["customer"]), "-"))
    with translation.override(lang):
        headings = [
            _("Details"),
            _("Timeline"),
            _("Visits"),
            _("Last visit"),
            _("customer since"),
            _("%(kind)s note posted") % {"kind": CampaignKind.THANK_YOU.label},
            _("note sent"),
        ]
    for heading in headings:
        assert _flat(heading) in text, f"{lang}: {heading!r} missing from the customer sheet"
    assert _flat(" ".join(SHOPS[lang].customer)) in text
