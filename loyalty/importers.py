"""Opening balances from another loyalty system: a CSV of card, points, as-of date."""

import csv
import datetime as dt
import io

from django.utils.translation import gettext as _

from .services import OpeningResult, OpeningRow, points_opening_post

CARD_NAMES = {"card", "card_number", "card number"}
POINTS_NAMES = {"points", "balance"}
DATE_NAMES = {"as_of", "as-of", "as of", "date", "as_of_date"}


def _column(header: list[str], names: set[str]) -> int | None:
    for i, name in enumerate(header):
        if name.strip().lower() in names:
            return i
    return None


def opening_balances_parse(*, text: str) -> tuple[list[OpeningRow], list[str]]:
    """Rows and line-numbered errors. A header row (card, points, as_of) is optional; "," or ";" separate."""
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = list(csv.reader(io.StringIO(text), dialect))
    rows, errors = [], []
    cols = (0, 1, 2)
    start = 0
    if reader and _column(reader[0], CARD_NAMES) is not None:
        header = reader[0]
        found = (_column(header, CARD_NAMES), _column(header, POINTS_NAMES), _column(header, DATE_NAMES))
        if None in found:
            return [], [_("Line 1: the header needs card, points and as_of columns.")]
        cols, start = found, 1
    seen = set()
    for index, record in enumerate(reader[start:], start=start + 1):
        if not any(cell.strip() for cell in record):
            continue
        try:
            card, points, day = (record[c].strip() for c in cols)
        except IndexError:
            errors.append(_("Line %(line)s: expected card, points and as-of date.") % {"line": index})
            continue
        try:
            points_value = int(points.replace(" ", ""))
        except ValueError:
            errors.append(
                _("Line %(line)s: %(value)s is not a whole number of points.") % {"line": index, "value": points}
            )
            continue
        try:
            as_of = dt.date.fromisoformat(day)
        except ValueError:
            errors.append(_("Line %(line)s: %(value)s is not a date (use YYYY-MM-DD).") % {"line": index, "value": day})
            continue
        if points_value < 0:
            errors.append(_("Line %(line)s: an opening balance cannot be negative.") % {"line": index})
            continue
        if points_value == 0:
            continue
        if card in seen:
            errors.append(_("Line %(line)s: card %(card)s appears twice in this file.") % {"line": index, "card": card})
            continue
        seen.add(card)
        rows.append(OpeningRow(line=index, card=card, points=points_value, as_of=as_of))
    return rows, errors


def opening_balances_import(*, text: str, by=None, file_name: str = "") -> OpeningResult:
    """Parse and post a file of opening balances; rerunning it posts nothing new."""
    rows, errors = opening_balances_parse(text=text)
    result = points_opening_post(rows=rows, by=by, file_name=file_name)
    result.errors = errors + (result.errors or [])
    return result
