"""Reading the canonical ticket CSV as a stream: header, delimiter sniffing, (line, values) pairs.

Constant memory whatever the file size: the file is read line by line and
each row is handed on as soon as it is read.
"""

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from django.utils.translation import gettext as _

from .rows import COLUMNS, REQUIRED

PREVIEW_ROWS = 10


class ImportFileError(Exception):
    """The file as a whole cannot be read (encoding, header): nothing of it is imported."""


@dataclass
class CsvSource:
    """An opened ticket CSV: its delimiter, header and a stream of (line number, values)."""

    delimiter: str
    header: list[str]
    index: list[int | None]
    _reader: Iterator[list[str]] = field(repr=False)  # a csv.reader over the lines after the header
    preview: list[list[str]] = field(default_factory=list)

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(line number in the file, the canonical columns' stripped values) for every non-blank row.

        The first PREVIEW_ROWS raw rows are kept in ``preview`` for the upload screen.
        """
        index = self.index
        reader = self._reader
        preview = self.preview
        try:
            for raw in reader:
                if not raw or (len(raw) == 1 and not raw[0].strip()):
                    continue
                if len(preview) < PREVIEW_ROWS:
                    preview.append(raw[: len(self.header)])
                n = len(raw)
                yield (
                    reader.line_num + 1,  # the header is line 1
                    [raw[i].strip() if i is not None and i < n else "" for i in index],
                )
        except UnicodeDecodeError as exc:
            raise ImportFileError(
                _("The file is not UTF-8 text (after line %(line)s). Save it as “CSV UTF-8” and upload it again.")
                % {"line": reader.line_num + 1}
            ) from exc
        except csv.Error as exc:
            raise ImportFileError(
                _("The CSV is malformed near line %(line)s: %(reason)s") % {"line": reader.line_num + 1, "reason": exc}
            ) from exc


def csv_open(binary: BinaryIO) -> CsvSource:
    """Open ``binary`` (a file opened in binary mode) as a ticket CSV; raise ImportFileError if it is not one.

    UTF-8 with or without a byte-order mark; the delimiter is whichever of ``;``
    and ``,`` the header line uses more.
    """
    text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="strict", newline="")
    try:
        header_line = text.readline()
    except UnicodeDecodeError as exc:
        raise ImportFileError(_("The file is not UTF-8 text. Save it as “CSV UTF-8” and upload it again.")) from exc
    if not header_line.strip():
        raise ImportFileError(_("The file is empty: the first line must name the columns."))
    delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
    header = [h.strip().lower() for h in next(csv.reader([header_line], delimiter=delimiter))]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ImportFileError(
            _("The first line must name the columns; missing: %(columns)s.") % {"columns": ", ".join(missing)}
        )
    index = [header.index(c) if c in header else None for c in COLUMNS]
    reader = csv.reader(text, delimiter=delimiter)
    return CsvSource(delimiter=delimiter, header=header, index=index, _reader=reader)
