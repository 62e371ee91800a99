"""The dashboard, the kiosk sign-up form and My notes in every language, in real Chromium.

One browser, one login per role; each test walks the six languages by the language cookie. For each page
and language: <html> has the language and its direction (computed), no line of the page is an English
message that the language's catalogue translates (an untranslated fallback), Persian mirrors the layout
(the brand on the right, labels on their fields' right edge), and a screenshot is kept under
test-artifacts/i18n/<lang>-<page>.png for a person to look at.
"""

import re

import pytest
from django.conf import settings
from django.conf.locale import LANG_INFO
from django.utils.translation import trans_real

from outreach.notes import notes_queue
from outreach.notes_models import CampaignKind, IncentiveKind
from tests.conftest import ARTIFACTS, AS_OF

from .notes_helpers import best, campaign, consenting, lapsed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LANGUAGES = [code for code, _name in settings.LANGUAGES]
SHOTS = ARTIFACTS / "i18n"
_LETTER = re.compile(r"[^\W\d_]")
# The language switcher names each language in itself ("English", "Tagalog"): not a fallback.
NATIVE_NAMES = {LANG_INFO[code]["name_local"] for code in LANGUAGES}


def _english_messages(lang: str) -> set[str]:
    """English messages that ``lang`` translates to something else: seeing one means a fallback."""
    catalog = trans_real.translation(lang)._catalog
    return {
        msgid.strip()
        for msgid, text in catalog.items()
        if isinstance(msgid, str) and msgid and text != msgid and _LETTER.search(msgid) and "%(" not in msgid
    }


def _in(page, lang: str) -> None:
    page.context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": lang, "url": page.url}])
    page.reload()
    page.wait_for_load_state()


def _box(page, selector: str) -> dict:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    return box


def _text_box(page, selector: str) -> dict:
    """Where the text of ``selector`` is drawn (not its block, which spans the line)."""
    return page.locator(selector).first.evaluate(
        "el => { const r = document.createRange(); r.selectNodeContents(el);"
        " const b = r.getBoundingClientRect(); return {x: b.x, right: b.right}; }"
    )


def _check_language(page, lang: str, name: str, problems: list[str]) -> None:
    """Direction, no fallback, screenshot; what is wrong is added to ``problems``."""
    html = page.locator("html")
    direction = html.evaluate("el => getComputedStyle(el).direction")
    expected = "rtl" if lang == "fa" else "ltr"
    if html.get_attribute("lang") != lang or html.get_attribute("dir") != expected or direction != expected:
        problems.append(f"{lang}/{name}: lang={html.get_attribute('lang')} dir={direction}, expected {expected}")
    if lang != "en":
        english = _english_messages(lang)
        lines = {line.strip().rstrip("*").strip() for line in page.locator("body").inner_text().splitlines()}
        fallback = sorted(line for line in lines - NATIVE_NAMES if line in english)
        if fallback:
            problems.append(f"{lang}/{name}: shown in English: {fallback[:8]}")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{lang}-{name}.png"), full_page=True)


def _brand_side(page, lang: str, name: str, problems: list[str]) -> None:
    width = page.viewport_size["width"]
    brand = _box(page, ".navbar-brand")
    on_right = brand["x"] > width / 2
    if on_right != (lang == "fa"):
        problems.append(f"{lang}/{name}: the brand sits at x={brand['x']:.0f} of {width}")


def test_manager_dashboard_in_every_language(browser_login, manager, refreshed_history):
    page = browser_login(manager)
    page.goto("/dashboard/?start=2026-10-01&end=2026-10-31")
    page.locator("[data-testid=nav] [data-nav=dashboard]").wait_for()
    problems: list[str] = []
    for lang in LANGUAGES:
        _in(page, lang)
        page.wait_for_function("document.getElementById('chart-visits').dataset.rendered === 'true'")
        _check_language(page, lang, "dashboard", problems)
        _brand_side(page, lang, "dashboard", problems)
    assert not problems, "\n".join(problems)


@pytest.fixture
def notes_for_staff(store, staff):
    """A thank-you and a win-back note for each customer language."""
    for i, lang in enumerate(LANGUAGES):
        best(consenting(store, first_name=f"Best{i}", last_name="Regular", preferred_language=lang), rank=i + 1)
        lapsed(consenting(store, first_name=f"Missed{i}", last_name="Regular", preferred_language=lang))
    campaign(CampaignKind.THANK_YOU)
    campaign(CampaignKind.WIN_BACK, incentive_kind=IncentiveKind.PERCENT, incentive_percent=10)
    notes_queue(as_of=AS_OF)


def test_staff_my_notes_and_kiosk_sign_up_in_every_language(browser_login, staff, store, notes_for_staff):
    page = browser_login(staff)
    page.goto("/notes/")
    page.wait_for_selector("[data-testid=progress]")
    problems: list[str] = []
    for lang in LANGUAGES:
        _in(page, lang)
        _check_language(page, lang, "my-notes", problems)
        _brand_side(page, lang, "my-notes", problems)

    _in(page, "en")
    page.goto("/")
    page.click("[data-testid=signup-button]")
    page.fill("input[name=pin]", "4817")
    page.fill("input[name=pin_again]", "4817")
    page.click("#submit-id-submit")
    page.wait_for_selector("[data-testid=signup-form]")
    for lang in LANGUAGES:
        _in(page, lang)
        page.wait_for_selector("[data-testid=signup-form]")
        _check_language(page, lang, "signup", problems)
        label = _text_box(page, "label[for=id_name]")
        field = _box(page, "input[name=name]")
        if lang == "fa":
            aligned = abs(label["right"] - (field["x"] + field["width"])) < 20
        else:
            aligned = abs(label["x"] - field["x"]) < 20
        if not aligned:
            problems.append(f"{lang}/signup: the name label at {label} does not start at its field {field}")
    assert not problems, "\n".join(problems)
