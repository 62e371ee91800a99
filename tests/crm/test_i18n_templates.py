"""No template text escapes gettext.

Every template of ours is stripped of what is not prose for people (Django comments, variables and tags,
``<script>`` and ``<style>``, HTML comments and markup, entities) and of what *is* translated
(``{% trans %}``/``{% translate %}`` and ``{% blocktrans(late) %}…{% endblocktrans(late) %}``).
Whatever still holds a letter would show in English on a Persian or Bulgarian page. Words people read in
attributes (``alt``, ``title``, ``placeholder``, ``aria-label``, ``label``) and in ``|default:"…"`` count too.
"""

import re
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]

# Text that stays as written in every language: the brand, and nothing else without a reason.
ALLOWLIST = {
    "Regulars",  # the product's name
    "R",  # RFM scores: recency, frequency, money keep their letters in every language
    "F",
    "M",
}

_LETTER = re.compile(r"[^\W\d_]")
_FLAGS = re.DOTALL | re.IGNORECASE
_DROP = [
    re.compile(r"\{%\s*comment\s*%\}.*?\{%\s*endcomment\s*%\}", _FLAGS),
    re.compile(r"\{#.*?#\}", re.DOTALL),
    re.compile(r"\{%\s*(blocktrans|blocktranslate)\b.*?\{%\s*end\1\s*%\}", _FLAGS),
    re.compile(r"<script\b.*?</script\s*>", _FLAGS),
    re.compile(r"<style\b.*?</style\s*>", _FLAGS),
    re.compile(r"<!--.*?-->", re.DOTALL),
    re.compile(r"<code\b.*?</code\s*>", _FLAGS),  # tokens and headers to copy, not prose
    re.compile(r"\{%\s*block\s+\w*class\s*%\}.*?\{%\s*endblock", _FLAGS),  # CSS classes
]
_CSS_WORD = re.compile(r"^[a-z][a-z0-9_-]*$")
_DJANGO = re.compile(r"\{%.*?%\}|\{\{.*?\}\}", re.DOTALL)
_DEFAULT_FILTER = re.compile(r"\|(?:default|default_if_none|yesno):\s*(\"[^\"]*\"|'[^']*')")
_PROSE_ATTR = re.compile(r"\b(alt|title|placeholder|aria-label|label)\s*=\s*(\"[^\"]*\"|'[^']*')", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>", re.DOTALL)
_ENTITY = re.compile(r"&(#\d+|#x[0-9a-f]+|\w+);", re.IGNORECASE)


def template_files() -> list[Path]:
    dirs = [Path(d) for conf in settings.TEMPLATES for d in conf.get("DIRS", [])]
    ours = [Path(a.path) for a in apps.get_app_configs() if Path(a.path).parent == ROOT]
    dirs += [path / "templates" for path in ours]
    return sorted({p for d in dirs if d.is_dir() for p in d.rglob("*") if p.suffix in {".html", ".txt"}})


def untranslated(source: str) -> list[str]:
    """The bits of ``source`` that people would read and that gettext never sees."""
    text = source
    for pattern in _DROP:
        text = pattern.sub(" ", text)
    found = [m.group(1)[1:-1] for tag in _DJANGO.findall(text) for m in _DEFAULT_FILTER.finditer(tag)]
    found = [s for s in found if not _CSS_WORD.match(s)]  # |default:'info' picks a CSS class
    text = _DJANGO.sub(" ", text)
    for tag in _TAG.findall(text):
        found += [m.group(2)[1:-1] for m in _PROSE_ATTR.finditer(tag)]
    text = _ENTITY.sub(" ", _TAG.sub("\n", text))
    found += text.splitlines()
    return [s.strip() for s in found if _LETTER.search(s) and s.strip() not in ALLOWLIST]


def test_the_scanner_catches_what_escapes_and_passes_what_is_translated():
    assert untranslated("<p>Hello</p>") == ["Hello"]
    assert untranslated('<input placeholder="Card or phone">') == ["Card or phone"]
    assert untranslated('{{ c.email|default:"No email" }}') == ["No email"]
    assert untranslated('<nav aria-label="breadcrumb">') == ["breadcrumb"]
    assert untranslated("{{ ok|yesno:'Yes,No' }}") == ["Yes,No"]
    assert untranslated("<b>{% trans 'Hello' %}</b> {{ name }} &middot; 12 %") == []
    assert untranslated("{% blocktranslate with n=3 %}You have {{ n }}{% endblocktranslate %}") == []
    assert untranslated("{# note #}<script>let a = 'b';</script><style>p{}</style><!-- x -->") == []
    assert untranslated('<a class="btn" href="/x" title="{% translate "Go" %}">Regulars</a>') == []


def test_every_template_of_ours_is_found():
    names = {p.relative_to(ROOT).as_posix() for p in template_files()}
    assert "templates/base.html" in names and "templates/outreach/sheets/sheet.html" in names
    assert len(names) > 50


@pytest.mark.parametrize("path", template_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_template_text_goes_through_gettext(path):
    leaks = untranslated(path.read_text(encoding="utf-8"))
    assert not leaks, f"{path.relative_to(ROOT)}: text outside {{% translate %}}: {leaks[:10]}"
