"""Persian and English ship from day one: a complete fa catalogue and a right-to-left page."""

import re
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import translation

ROOT = Path(__file__).resolve().parents[2]
FA_PO = ROOT / "locale" / "fa" / "LC_MESSAGES" / "django.po"


def _entries(path: Path) -> list[tuple[str, str, list[str]]]:
    """(msgid, msgstr, flags) of every entry except the header."""
    entries = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        flags = [f.strip() for line in block.splitlines() if line.startswith("#,") for f in line[2:].split(",")]
        msgid = re.search(r'^msgid ((?:".*"\n?)+)', block, re.M)
        msgstr = re.search(r'^msgstr ((?:".*"\n?)+)', block, re.M)
        if not msgid or not msgstr:
            continue
        unquote = lambda m: "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1)))  # noqa: E731
        if unquote(msgid):
            entries.append((unquote(msgid), unquote(msgstr), flags))
    return entries


def test_every_persian_message_is_translated_and_keeps_its_placeholders():
    entries = _entries(FA_PO)
    assert len(entries) > 100
    untranslated = [msgid for msgid, msgstr, _ in entries if not msgstr]
    assert not untranslated, f"untranslated fa messages: {untranslated}"
    fuzzy = [msgid for msgid, _, flags in entries if "fuzzy" in flags]
    assert not fuzzy, f"fuzzy fa messages: {fuzzy}"
    for msgid, msgstr, _ in entries:
        assert sorted(re.findall(r"%\(\w+\)s", msgid)) == sorted(re.findall(r"%\(\w+\)s", msgstr)), msgid


def test_compiled_catalogues_are_shipped_and_used():
    for lang in ("fa", "en"):
        assert (ROOT / "locale" / lang / "LC_MESSAGES" / "django.mo").exists()
    with translation.override("fa"):
        assert translation.gettext("Today") == "امروز"
        assert translation.get_language_bidi()
    with translation.override("en"):
        assert translation.gettext("Today") == "Today"


@pytest.mark.django_db
def test_choosing_persian_serves_right_to_left_pages_with_the_rtl_stylesheet(client):
    response = client.post(reverse("set_language"), {"language": "fa", "next": reverse("login")}, follow=True)
    html = response.content.decode()
    assert re.search(r'<html lang="fa" dir="rtl">', html)
    assert "bootstrap.rtl.min.css" in html
    assert "ورود" in html  # "Log in"
