"""Printed task sheets, rendered by real WeasyPrint and read back with pdftotext."""

import datetime as dt
import subprocess

import pytest

from outreach.sheets import SheetDocument, SheetNote, SheetSection, sheet_render_pdf

SIGNERS = ["Anna", "Bekzod", "Dilnoza", "Farrukh", "Malika"]

THANKS = SheetNote(
    kind="thank_you",
    kind_label="Thank-you",
    recipient="Jasur Toshmatov",
    address="Bunyodkor ko'chasi 12, kv. 45, Toshkent 100115",
    why="47 visits in the last 12 months",
    context="Loves jazz vinyl",
    wording="Hurmatli Jasur aka, har hafta kelganingiz uchun rahmat!",
    wording_language="uz",
)
WIN_BACK = SheetNote(
    kind="win_back",
    kind_label="Win-back",
    recipient="Elena Petrova",
    address="Muqimiy ko'chasi 7, Toshkent 100096",
    why="usually every 2 weeks — last visit 9 weeks ago",
    wording="Елена, нам вас не хватает!",
    wording_language="ru",
    incentive="15 % off one purchase",
    voucher_code="WB-7K3Q-92",
    return_code="R4F9K",
)
PERSIAN = SheetNote(
    kind="win_back",
    kind_label="Win-back",
    recipient="Mariam Rahimi",
    address="Qatortol ko'chasi 3, Toshkent 100060",
    why="usually every 10 days — last visit 7 weeks ago",
    wording="مریم عزیز، دلمان برایتان تنگ شده است",
    wording_language="fa",
    incentive="a free calligraphy pen",
    voucher_code="WB-P2M8-41",
    return_code="R8C2D",
)


def _document(notes: list[SheetNote]) -> SheetDocument:
    return SheetDocument(
        store_label="Chilonzor (CHZ)",
        printed_on=dt.date(2026, 11, 22),
        signers=SIGNERS,
        sections=[SheetSection(title="Notes to write — Karimova", subtitle="3 notes", notes=notes)],
    )


def _text(pdf: bytes, tmp_path, *args: str) -> str:
    path = tmp_path / "out.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", *args, str(path), "-"], check=True, capture_output=True, text=True).stdout


def _pages(pdf: bytes, tmp_path) -> int:
    path = tmp_path / "n.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True, text=True).stdout
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


def test_sheet_holds_every_note_with_name_address_wording_and_incentive(tmp_path):
    text = _text(sheet_render_pdf(document=_document([THANKS, WIN_BACK])), tmp_path)
    for note in (THANKS, WIN_BACK):
        assert note.recipient in text
        assert note.address in text
        assert note.wording in text
    assert "WB-7K3Q-92" in text and "R4F9K" in text
    assert "Notes to write — Karimova" in text


def test_thank_you_says_no_coupon_and_only_win_back_carries_an_incentive(tmp_path):
    text = _text(sheet_render_pdf(document=_document([THANKS])), tmp_path)
    assert "just thanks" in text
    assert "INCENTIVE" not in text.upper().replace("NO COUPON", "")
    text = _text(sheet_render_pdf(document=_document([WIN_BACK])), tmp_path)
    assert "just thanks" not in text


def test_every_note_has_one_signature_line_per_staff_member(tmp_path):
    text = _text(sheet_render_pdf(document=_document([THANKS, WIN_BACK, PERSIAN])), tmp_path)
    for signer in SIGNERS:
        assert text.count(signer) == 3, f"{signer} should sign each of the 3 notes"


def test_persian_wording_reads_back_in_logical_order(tmp_path):
    text = _text(sheet_render_pdf(document=_document([PERSIAN])), tmp_path)
    assert "دلمان" in text and "مریم" in text


def test_a_short_sheet_is_numbered_page_x_of_y(tmp_path):
    text = _text(sheet_render_pdf(document=_document([THANKS, WIN_BACK])), tmp_path)
    assert "page 1 of 1" in text


def test_long_sheets_render_in_parts_with_running_page_numbers(tmp_path):
    notes = [THANKS, WIN_BACK, PERSIAN] * 9  # 27 notes, parts of 10
    pdf = sheet_render_pdf(document=_document(notes), chunk=10)
    pages = _pages(pdf, tmp_path)
    text = _text(pdf, tmp_path)
    assert text.count("Elena Petrova") == 9
    assert f"page {pages}" in text, "numbering runs on across parts"
    assert "page 1" in text and text.count("Notes to write — Karimova") == 1


@pytest.mark.parametrize("layout", ["cards", "labels"])
def test_cards_and_labels_carry_every_recipient(tmp_path, layout):
    text = _text(sheet_render_pdf(document=_document([THANKS, WIN_BACK]), layout=layout), tmp_path)
    assert "Jasur Toshmatov" in text and "Elena Petrova" in text
    if layout == "labels":
        assert "Muqimiy ko'chasi 7" in text
    else:
        assert "WB-7K3Q-92" in text


def test_cards_put_one_note_on_each_card(tmp_path):
    pdf = sheet_render_pdf(document=_document([THANKS, WIN_BACK, PERSIAN]), layout="cards")
    assert _pages(pdf, tmp_path) == 3


def test_unknown_layout_is_refused():
    with pytest.raises(ValueError, match="Unknown layout"):
        sheet_render_pdf(document=_document([THANKS]), layout="poster")


def _qr_codes(pdf: bytes, tmp_path) -> list[str]:
    """Every QR code on every page, decoded by zbar from a 200 dpi raster of the PDF (as a till's scanner would)."""
    path = tmp_path / "qr.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "200", "-gray", "-png", str(path), str(tmp_path / "page")], check=True)
    found = []
    for image in sorted(tmp_path.glob("page*.png")):
        # zbarimg exits 4 when a page holds no barcode at all.
        done = subprocess.run(["zbarimg", "-q", "--raw", str(image)], capture_output=True, text=True)
        assert done.returncode in (0, 4), done.stderr
        found += done.stdout.split()
        image.unlink()
    return found


@pytest.mark.parametrize("layout", ["sheet", "cards"])
def test_each_return_code_is_printed_as_text_and_as_a_qr_code_that_scans_back_to_it(tmp_path, layout):
    pdf = sheet_render_pdf(document=_document([THANKS, WIN_BACK, PERSIAN]), layout=layout)
    text = _text(pdf, tmp_path)
    assert "R4F9K" in text and "R8C2D" in text
    assert sorted(_qr_codes(pdf, tmp_path)) == ["R4F9K", "R8C2D"], "one QR per win-back note, none on the thank-you"


def test_a_thank_you_carries_no_qr_code(tmp_path):
    assert _qr_codes(sheet_render_pdf(document=_document([THANKS])), tmp_path) == []
