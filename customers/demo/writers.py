"""Writing rows: COPY from a generator-backed file on PostgreSQL, bulk_create on SQLite."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable, Iterable, Iterator

from django.db import connection, models

from ..models import PurchaseTicket
from .rhythms import TICKET_FIELDS

# --- Writers -----------------------------------------------------------------------------


def _copy_text(value) -> str:
    """One value in PostgreSQL's COPY text format."""
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dict | list):
        value = json.dumps(value)
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


class IteratorFile(io.TextIOBase):
    """A read-only text file over an iterator of lines: what ``copy_expert`` streams from.

    Holds at most one line plus the requested block in memory, whatever the row count.
    """

    def __init__(self, lines: Iterable[str]):
        self._lines: Iterator[str] = iter(lines)
        self._buffer = ""

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> str:
        if size is None or size < 0:
            data, self._buffer = self._buffer + "".join(self._lines), ""
            return data
        parts, length = [self._buffer], len(self._buffer)
        while length < size:
            try:
                line = next(self._lines)
            except StopIteration:
                break
            parts.append(line)
            length += len(line)
        data = "".join(parts)
        self._buffer = data[size:]
        return data[:size]

    def readline(self, size: int | None = -1) -> str:
        if self._buffer:
            line, self._buffer = self._buffer, ""
            return line
        return next(self._lines, "")


def _extra_columns(model: type[models.Model], provided: tuple[str, ...]) -> list[models.Field]:
    """Concrete columns the generator does not fill and the database does not default.

    Other issues add columns to Customer and PurchaseTicket; COPY must still fill them
    with the field's Python default (or NULL), or the load breaks on NOT NULL.
    """
    return [
        f
        for f in model._meta.concrete_fields
        if f.attname not in provided
        and getattr(f, "db_default", models.NOT_PROVIDED) is models.NOT_PROVIDED
        and not getattr(f, "generated", False)  # the database computes GeneratedFields itself
    ]


def _extra_values(fields: list[models.Field]) -> Callable[[], tuple]:
    constant = [not callable(f.default) for f in fields]
    values = [f.get_default() if c else None for f, c in zip(fields, constant, strict=True)]
    if all(constant):
        fixed = tuple(values)
        return lambda: fixed
    return lambda: tuple(v if c else f.get_default() for f, c, v in zip(fields, constant, values, strict=True))


def _ticket_line(row: tuple) -> str:
    """A ticket row (TICKET_FIELDS) in COPY text format: the hot path, 20M times at benchmark scale."""
    tid, store, number, at, total, items, served_by, customer, is_return, original, _ = row
    stamp = at.isoformat(sep=" ")
    served = NULL if served_by is None else served_by
    cust = NULL if customer is None else customer
    orig = NULL if original is None else original
    kind = "t" if is_return else "f"
    return f"{tid}\t{store}\t{number}\t{stamp}\t{total}\t{items}\t{served}\t{cust}\t{kind}\t{orig}\t{stamp}\n"


NULL = "\\N"


def _copy_rows(cursor, model: type[models.Model], columns: tuple[str, ...], rows: Iterable[tuple]) -> None:
    extra_fields = _extra_columns(model, columns)
    extra = _extra_values(extra_fields)
    column_of = {f.attname: f.column for f in model._meta.concrete_fields}
    names = [column_of[c] for c in columns] + [f.column for f in extra_fields]
    qn = connection.ops.quote_name
    # Ticket numbers are "D" + digits and the other values are numbers, dates and flags:
    # nothing needs escaping, so the fast formatter is exact (when no extra column exists).
    fast = model is PurchaseTicket and columns == TICKET_FIELDS and not extra_fields

    def lines():
        if fast:
            yield from map(_ticket_line, rows)
            return
        for row in rows:
            yield "\t".join(_copy_text(v) for v in (*row, *extra())) + "\n"

    sql = f"COPY {qn(model._meta.db_table)} ({', '.join(qn(n) for n in names)}) FROM STDIN"
    cursor.copy_expert(sql, IteratorFile(lines()), size=256 * 1024)


def _bulk_rows(model: type[models.Model], columns: tuple[str, ...], rows: Iterable[tuple], batch: int) -> None:
    model.objects.bulk_create((model(**dict(zip(columns, row, strict=True))) for row in rows), batch_size=batch)
