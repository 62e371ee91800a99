"""Printed task sheets for handwritten notes (WeasyPrint).

Three layouts, one data shape:

- ``sheet``: A4, one block per note (kind, tick boxes, recipient and address, why
  this person, personal context, suggested wording in the customer's language,
  the incentive and return code — as text and as a QR code — for win-back only,
  "no coupon — just thanks" on thank-you notes) and a signature line for every
  staff member of the store;
- ``cards``: one A6 note card per note, to write from (return code and QR too);
- ``labels``: an A4 sheet of envelope address labels (3 × 8).

Rendering is done in parts of ``CHUNK_NOTES`` notes, each written to PDF and
dropped before the next is laid out, then the parts are joined with pypdf: peak
memory depends on the part size, not on how many notes are printed. A section
(one staff member's notes) that fits in one part is numbered "page X of Y";
longer sections keep a running "page X".

Print CSS is lean on purpose: no CSS framework in PDFs (Bootstrap made
WeasyPrint ~2.8× slower here), and no flex, grid, table or float on the task
sheet: the tick boxes share the badge's line (justified), the QR code is
positioned absolutely beside the recipient (a float would make WeasyPrint
measure every later line of the page against it), and the signature row is one
line of text with tab stops over a repeated gradient (bench/notes.md).
"""

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from itertools import islice
from typing import Literal

import segno
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import formats, translation
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from pypdf import PdfWriter
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration

Layout = Literal["sheet", "cards", "labels"]
LAYOUTS: tuple[Layout, ...] = ("sheet", "cards", "labels")
CHUNK_NOTES = 50
RTL_LANGUAGES = {"fa", "ar", "he", "ur"}
# Width of a note's content box in static/print/<layout>.css: the page less its margins, the note's
# border and padding (A4: 210 − 2 × 14 mm − 2 × 10.8 pt; A6 card: 148 − 2 × 9 mm).
CONTENT_WIDTH_MM = {"sheet": 174.4, "cards": 130.0, "labels": 70.0}


@dataclass(frozen=True)
class SheetNote:
    """One note as it is printed. Plain strings: the sheet knows nothing of models."""

    kind: str  # thank_you, win_back, birthday, big_purchase, new_arrivals, manual
    kind_label: str
    recipient: str
    address: str
    why: str
    context: str = ""
    wording: str = ""
    wording_language: str = "en"
    incentive: str = ""  # win-back: "15 % off one purchase, valid until 31 Jan 2027"
    voucher_code: str = ""
    return_code: str = ""  # attributes the customer's return to this note
    note_id: int | None = None

    @property
    def wording_dir(self) -> str:
        return "rtl" if self.wording_language.split("-")[0] in RTL_LANGUAGES else "ltr"

    @property
    def has_incentive(self) -> bool:
        return bool(self.incentive or self.voucher_code)

    @property
    def return_qr(self) -> str:
        """The return code as a QR code image (empty without a code); see :func:`return_code_qr`."""
        return return_code_qr(self.return_code) if self.return_code else ""


# The QR mask pattern. segno otherwise scores all eight masks (the QR standard's penalty rules), which
# cost ~1.2 ms per code in Python, more than the rest of the code's encoding; every code printed on
# the sheets and cards is the same short shape (version 1, level H), and bench/notes.md records
# zbarimg decoding them with this mask.
QR_MASK = 4
QR_SCALE = 4  # pixels per module (see return_code_qr)


def return_code_qr(code: str) -> str:
    """An ``<img>`` of a QR code (version 1, error correction H) holding exactly ``code``, marked safe.

    It encodes the bare return code, not a URL: a till's scanner types what it reads into the till's
    field (or into the counter screen's search box), and that field wants the code. The image is a
    1-bit PNG of 4 × 4 pixels per module (a data URI of ~400 bytes, no size): the print CSS sizes it
    with ``image-rendering: pixelated``; at one pixel per module poppler blurs the modules when it
    rasterizes the page at 100–150 dpi and zbar reads none of them. WeasyPrint draws the PNG ~3 ×
    faster than the same code as an SVG path, which it parses segment by segment (bench/notes.md).
    """
    qr = segno.make_qr(code, error="h", boost_error=False, mask=QR_MASK)
    return mark_safe(f'<img alt="" src="{qr.png_data_uri(scale=QR_SCALE, border=2)}">')  # nosec B308 B703 - segno PNG


@dataclass
class SheetSection:
    """The notes one staff member writes (or a whole store's, for a manager)."""

    title: str  # "Notes to write — Anna Karimova"
    subtitle: str  # "Chilonzor (CHZ) · 6 notes this week (3 thank-you, 3 win-back) · due by Sat 28 Nov"
    notes: list[SheetNote] = field(default_factory=list)


@dataclass
class SheetDocument:
    store_label: str  # "Chilonzor (CHZ)"
    printed_on: date
    signers: list[str]  # every active staff member of the store signs every note
    sections: list[SheetSection]
    language: str = "en"
    calendar: str = "gregorian"  # or "solar_hijri": the store's (``customers.locales``)

    @property
    def printed_label(self) -> str:
        """The print date in the sheet's calendar and language (read while the sheet's language is active)."""
        from customers.locales import SOLAR_HIJRI, solar_hijri

        if self.calendar == SOLAR_HIJRI:
            return solar_hijri(self.printed_on, language=self.language)
        return formats.date_format(self.printed_on, "j M Y")


def _chunks(notes: list[SheetNote], size: int) -> Iterator[list[SheetNote]]:
    it = iter(notes)
    while part := list(islice(it, size)):
        yield part


def _parts(document: SheetDocument, chunk: int) -> Iterable[tuple[SheetSection, list[SheetNote], bool, bool]]:
    """(section, notes, is_first_part_of_section, section_fits_one_part) for each part to render."""
    for section in document.sections:
        parts = list(_chunks(section.notes, chunk)) or [[]]
        for i, notes in enumerate(parts):
            yield section, notes, i == 0, len(parts) == 1


def sheet_render_pdf(*, document: SheetDocument, layout: Layout = "sheet", chunk: int = CHUNK_NOTES) -> bytes:
    """Render ``document`` in ``layout`` to PDF bytes, ``chunk`` notes at a time."""
    if layout not in LAYOUTS:
        raise ValueError(f"Unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}.")
    fonts = FontConfiguration()
    stylesheet = CSS(filename=str(settings.BASE_DIR / "static" / "print" / f"{layout}.css"), font_config=fonts)
    # The signature row is one line of text: names a tab stop apart, the stop = the row's width / signers.
    signer_line = "\t".join(document.signers)
    # The tick boxes sit at the right end of the badge's line by justification: the only breakable space
    # must be the one before them, so the words' own spaces become narrow no-break spaces (U+202F is not
    # stretched by justification; U+00A0 is).
    with translation.override(document.language):
        ticks = f"{gettext('written')}\u202f☐\u2003{gettext('posted')}\u202f☐".replace(" ", "\u202f")
    signer_tab = f"{CONTENT_WIDTH_MM[layout] / max(len(document.signers), 1):.2f}"
    writer = PdfWriter()
    page_offset = 0
    section_start = 0
    with translation.override(document.language):
        for section, notes, first_part, whole in _parts(document, chunk):
            if first_part:
                section_start = page_offset
            html = render_to_string(
                f"outreach/sheets/{layout}.html",
                {
                    "doc": document,
                    "section": section,
                    "notes": notes,
                    "show_header": first_part,
                    "page_start": page_offset - section_start + 1,
                    "numbered_of_total": whole,
                    "signer_line": signer_line,
                    "ticks": ticks,
                    "signer_tab": signer_tab,
                },
            )
            rendered = HTML(string=html, base_url=str(settings.BASE_DIR)).render(
                stylesheets=[stylesheet], font_config=fonts
            )
            page_offset += len(rendered.pages)
            buffer = io.BytesIO()
            rendered.write_pdf(buffer)
            del rendered
            buffer.seek(0)
            writer.append(buffer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
