"""The loyalty card as pictures: an EAN-13 barcode (any till scanner reads it) and a QR code.

Both are SVG text generated here (no external service, no image files), safe to
inline in a page or a PDF: the only variable input is the card number's digits.
"""

import io
import re

import barcode
import segno
from barcode.writer import SVGWriter
from django.utils.safestring import SafeString, mark_safe

_SVG_START = re.compile(r"<svg\b")


def _inline(svg: str) -> str:
    """Drop the XML prolog and doctype so the SVG can sit inside HTML."""
    match = _SVG_START.search(svg)
    return svg[match.start() :] if match else svg


def _viewbox(match: re.Match) -> str:
    w, h = (float(match.group(i)) * 96 / 25.4 for i in (1, 2))
    return f'width="{match.group(1)}mm" height="{match.group(2)}mm" viewBox="0 0 {w:.2f} {h:.2f}" class="card-barcode"'


def card_barcode_svg(card_number: str) -> SafeString:
    """The card number as an EAN-13 barcode with the digits printed under it."""
    if not (len(card_number) == 13 and card_number.isdigit()):
        raise ValueError("a loyalty card number is 13 digits")
    code = barcode.EAN13(card_number[:12], writer=SVGWriter())
    if code.get_fullcode() != card_number:
        raise ValueError("card number has a wrong check digit")
    out = io.BytesIO()
    code.write(out, options={"module_height": 14.0, "font_size": 9, "text_distance": 4.0, "quiet_zone": 3.0})
    svg = _inline(out.getvalue().decode("utf-8"))
    # Scale with its container: the shapes inside are in mm, and 1 mm is 96/25.4 user units.
    svg = re.sub(r'width="([\d.]+)mm" height="([\d.]+)mm"', _viewbox, svg, count=1)
    return mark_safe(svg)  # nosec B308 B703 - SVG generated from validated digits only


def card_qr_svg(card_number: str, *, scale: int = 4) -> SafeString:
    """The card number as a QR code (phones and 2D scanners)."""
    if not card_number.isdigit():
        raise ValueError("a loyalty card number is digits only")
    svg = segno.make(card_number, micro=False, error="m").svg_inline(scale=scale, svgclass="card-qr")
    return mark_safe(svg)  # nosec B308 B703 - SVG generated from validated digits only
