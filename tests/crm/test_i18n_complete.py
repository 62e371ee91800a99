"""Every offered language has a complete catalogue, in step with the code.

A message that is empty, fuzzy, or missing from a catalogue would show in English in the middle of a
Persian or Uzbek page; these tests fail first.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
LANGS = [code for code, _ in settings.LANGUAGES if code != "en"]
_STR = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _catalogue(code: str) -> dict[tuple[str, str], dict]:
    """(context, msgid) → {"strs": [...], "flags": [...]} for every entry but the header."""
    path = ROOT / "locale" / code / "LC_MESSAGES" / "django.po"
    out = {}
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        fields: dict[str, str] = {}
        current = None
        flags: list[str] = []
        for line in block.splitlines():
            if line.startswith("#,"):
                flags += [f.strip() for f in line[2:].split(",")]
            elif line.startswith("#"):
                continue
            elif m := re.match(r"^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d\])?) (.*)$", line):
                current = m.group(1)
                fields[current] = "".join(_STR.findall(m.group(2)))
            elif line.startswith('"') and current:
                fields[current] += "".join(_STR.findall(line))
        if fields.get("msgid"):
            strs = [v for k, v in fields.items() if k.startswith("msgstr")]
            out[(fields.get("msgctxt", ""), fields["msgid"])] = {"strs": strs, "flags": flags}
    return out


@pytest.mark.parametrize("code", LANGS)
def test_catalogue_has_no_empty_or_fuzzy_message_and_keeps_placeholders(code):
    entries = _catalogue(code)
    assert len(entries) > 500
    empty = [msgid for (_, msgid), e in entries.items() if not all(e["strs"])]
    assert not empty, f"{code}: untranslated {empty[:10]} (+{max(0, len(empty) - 10)})"
    fuzzy = [msgid for (_, msgid), e in entries.items() if "fuzzy" in e["flags"]]
    assert not fuzzy, f"{code}: fuzzy {fuzzy[:10]}"
    for (_, msgid), e in entries.items():
        wanted = sorted(re.findall(r"%\(\w+\)[sd]", msgid))
        for text in e["strs"]:
            assert sorted(re.findall(r"%\(\w+\)[sd]", text)) == wanted, f"{code}: placeholders of {msgid!r}"


@pytest.mark.slow
def test_catalogues_are_in_step_with_the_code(tmp_path):
    """makemessages on a copy of the code finds no message the committed catalogues lack."""
    for name in ("manage.py", "crm", "customers", "loyalty", "outreach", "templates", "locale"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "fa", "--no-obsolete", "--no-location"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    fresh = (tmp_path / "locale" / "fa" / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8")
    committed = {key for key, e in _catalogue("fa").items() if all(e["strs"]) and "fuzzy" not in e["flags"]}
    found = set()
    for block in fresh.split("\n\n"):
        ctx = re.search(r'^msgctxt "(.*)"', block, re.M)
        msgid = re.search(r'^msgid ((?:".*"\n?)+)', block, re.M)
        if msgid:
            text = "".join(_STR.findall(msgid.group(1)))
            if text:
                found.add((ctx.group(1) if ctx else "", text))
    missing = sorted(m for _, m in found - committed)
    assert not missing, f"messages in the code but not translated in the catalogues: {missing[:10]}"
