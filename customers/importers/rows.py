"""Row-level validation of POS tickets: one row of strings in, one typed row (or reasons) out.

Shared by the CSV importer and the REST API, so both accept exactly the same
values. Only what one row can tell is checked here; rules that need other rows
(a ticket twice with different content, a return of an unknown ticket) are
checked set-based by the engines once every row is staged.

The ORM engine's rows run through :meth:`RowParser.parse` (plain tuples,
pre-compiled regexes, no Decimal). The PostgreSQL engine checks rows in SQL
with the same rules and the same words (MESSAGES), and calls the value
helpers below for what its SQL leaves to Python.
"""

import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _

from ..attribution import return_code_is_well_formed, return_code_normalise
from ..phones import phone_normalise

COLUMNS = (
    "store",
    "ticket",
    "purchased_at",
    "total",
    "items",
    "customer_card",
    "customer_email",
    "customer_phone",
    "staff",
    "return_of",
    "return_code",
)
REQUIRED = ("store", "ticket", "purchased_at", "total")
(C_STORE, C_TICKET, C_AT, C_TOTAL, C_ITEMS, C_CARD, C_EMAIL, C_PHONE, C_STAFF, C_RETURN_OF, C_RETURN_CODE) = range(
    len(COLUMNS)
)

# A parsed row is a plain tuple (a million of them stream through here).
(
    R_LINE,
    R_STORE,
    R_NUMBER,
    R_AT,
    R_TOTAL,
    R_ITEMS,
    R_CARD,
    R_EMAIL,
    R_PHONE,
    R_STAFF,
    R_RETURN_OF,
    R_IS_RETURN,
    R_RETURN_CODE,
) = range(13)
# (line, store_id, number, purchased_at, total_str, items, card, email, phone, staff_id, return_of, is_return,
#  return_code) — return_code as presented (normalised); the engines check it against the notes.
Row = tuple

MAX_KEPT_ISSUES = 100_000
"""Issues kept in full; beyond this only the count grows (a file that bad is the wrong file)."""

_AMOUNT = re.compile(r"^([+-]?)(\d{1,10})(?:\.(\d{1,2}))?$")
_ITEMS = re.compile(r"^\d{1,6}$")
_CARD = re.compile(r"^[0-9A-Za-z]{1,20}$")
# No control characters (a NUL cannot be stored in PostgreSQL text) and no backslash (COPY's escape character).
_EMAIL = re.compile(
    r"^[^@\s,;<>\"\\\x00-\x1f\x7f]{1,64}@[^@\s,;<>\"\\\x00-\x1f\x7f]+\.[^@\s,;<>\".\\\x00-\x1f\x7f]{2,}$"
)
_NUMBER_BAD = re.compile(r"[\x00-\x1f\x7f]")
OLDEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class RowIssue:
    """One refused value (or a warning): where it is and why, in words a shop manager understands."""

    line: int
    column: str
    message: str
    level: str = "error"


@dataclass(frozen=True)
class StoreInfo:
    id: int
    code: str
    tz: dt.tzinfo
    country: str


# -- the reasons, by code: one wording for the Python parser and the SQL checks (engine_pg) ---------------
# code -> (column, message builder taking the raw value and the store's country)
MESSAGES: dict[str, tuple[str, Callable[[str, str], str]]] = {
    "store_missing": ("store", lambda v, c: _("The store code is missing.")),
    "store_unknown": ("store", lambda v, c: _("Unknown store code “%(code)s”.") % {"code": v.upper()[:20]}),
    "store_forbidden": (
        "store",
        lambda v, c: _("You may not import tickets for store %(code)s.") % {"code": v.upper()},
    ),
    "ticket_missing": ("ticket", lambda v, c: _("The ticket number is missing.")),
    "ticket_bad": ("ticket", lambda v, c: _("A ticket number has at most 64 printable characters.")),
    "at_missing": ("purchased_at", lambda v, c: _("The purchase date and time are missing.")),
    "at_bad": (
        "purchased_at",
        lambda v, c: _("“%(value)s” is not an ISO 8601 date and time.") % {"value": v[:40]},
    ),
    "at_future": ("purchased_at", lambda v, c: _("The purchase is in the future; check the till's clock.")),
    "at_old": ("purchased_at", lambda v, c: _("The purchase is before the year 2000; check the date.")),
    "total_missing": ("total", lambda v, c: _("The total is missing.")),
    "total_bad": (
        "total",
        lambda v, c: (
            _("“%(value)s” is not an amount (use digits, one decimal mark and at most two decimals).")
            % {"value": v[:40]}
        ),
    ),
    "items_bad": ("items", lambda v, c: _("“%(value)s” is not a number of items.") % {"value": v[:20]}),
    "card_bad": ("customer_card", lambda v, c: _("A card number has 1 to 20 letters or digits.")),
    "email_bad": ("customer_email", lambda v, c: _("This is not an email address.")),
    "phone_bad": (
        "customer_phone",
        lambda v, c: _("This is not a phone number we can read for %(country)s.") % {"country": c},
    ),
    "return_bad": ("return_of", lambda v, c: _("A ticket number has at most 64 printable characters.")),
    "return_self": ("return_of", lambda v, c: _("A ticket cannot be the return of itself.")),
    "return_positive": ("total", lambda v, c: _("A return's total must be negative (or zero).")),
    "code_bad": ("return_code", lambda v, c: _("A return code has 4 to 16 letters or digits.")),
}


def issue(code: str, line: int, value: str = "", country: str = "") -> RowIssue:
    """The RowIssue for reason ``code`` (a key of MESSAGES) about ``value`` on ``line``."""
    column, message = MESSAGES[code]
    return RowIssue(line, column, message(value, country))


def unknown_staff_warning(line: int, username: str) -> RowIssue:
    return RowIssue(
        line,
        "staff",
        _("No active user is called “%(name)s”; the tickets are imported without a server.") % {"name": username[:40]},
        level="warning",
    )


@lru_cache(maxsize=65536)
def _phone(raw: str, region: str) -> str | None:
    return phone_normalise(raw, region=region)


class RowParser:
    """Validates rows and keeps the reasons; yields typed rows for the valid ones."""

    def __init__(
        self,
        *,
        stores: dict[str, StoreInfo],
        allowed_store_ids: set[int] | None,
        now: dt.datetime,
    ):
        self.stores = stores
        self.allowed = allowed_store_ids
        self.latest = now + dt.timedelta(days=1)  # a till clock a little ahead is fine; next week is not
        self.errors: list[RowIssue] = []
        self.warnings: list[RowIssue] = []
        self.error_count = 0
        self.rows_read = 0
        self.rows_refused = 0
        self.comma_decimals = 0
        self.point_decimals = 0
        self.store_ids: set[int] = set()
        # Loaded up front: no query may run while COPY is streaming these rows on the same connection.
        self._staff: dict[str, int] = dict(
            get_user_model()._default_manager.filter(is_active=True).values_list("username", "pk")
        )
        self._unknown_staff: set[str] = set()

    # -- bookkeeping --------------------------------------------------------------------
    def _error(self, line: int, column: str, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_KEPT_ISSUES:
            self.errors.append(RowIssue(line, column, message))

    def add_errors(self, issues: Iterable[RowIssue]) -> None:
        for issue_ in issues:
            self._error(issue_.line, issue_.column, issue_.message)

    @property
    def decimal_mark(self) -> str:
        return "," if self.comma_decimals > self.point_decimals else "."

    def _staff_id(self, username: str, line: int) -> int | None:
        user_id = self._staff.get(username)
        if user_id is None and username not in self._unknown_staff:
            self._unknown_staff.add(username)
            if len(self.warnings) < MAX_KEPT_ISSUES:
                self.warnings.append(unknown_staff_warning(line, username))
        return user_id

    def staff_ids(self) -> dict[str, int]:
        """Active users by username (what a row's ``staff`` must name)."""
        return self._staff

    # -- one row ------------------------------------------------------------------------
    def parse(self, line: int, v: list[str]) -> Row | None:
        """The typed row for the values ``v`` (aligned with COLUMNS, stripped strings), or None if refused."""
        self.rows_read += 1
        before = self.error_count

        def err(code: str, value: str = "", country: str = "") -> None:
            column, message = MESSAGES[code]
            self._error(line, column, message(value, country))

        # store
        store = None
        code = v[C_STORE].upper()
        if not code:
            err("store_missing")
        else:
            store = self.stores.get(code)
            if store is None:
                err("store_unknown", v[C_STORE])
            elif self.allowed is not None and store.id not in self.allowed:
                err("store_forbidden", v[C_STORE])
                store = None

        # ticket number
        number = v[C_TICKET]
        if not number:
            err("ticket_missing")
        elif not ticket_number_ok(number):
            err("ticket_bad")

        # purchased_at
        at = None
        raw_at = v[C_AT]
        if not raw_at:
            err("at_missing")
        else:
            at = iso_datetime(raw_at)
            if at is None:
                err("at_bad", raw_at)
            else:
                if at.tzinfo is None:  # local time of the store (None: the store was refused already)
                    at = at.replace(tzinfo=store.tz) if store is not None else None
                if at is not None:
                    if at > self.latest:
                        err("at_future")
                        at = None
                    elif at < OLDEST:
                        err("at_old")
                        at = None

        # total
        total = None
        raw_total = v[C_TOTAL]
        if not raw_total:
            err("total_missing")
        else:
            total, mark = amount_normalise(raw_total)
            if mark == ",":
                self.comma_decimals += 1
            elif mark == ".":
                self.point_decimals += 1
            if total is None:
                err("total_bad", raw_total)

        # items
        items = 1
        raw_items = v[C_ITEMS]
        if raw_items:
            items = items_value(raw_items)
            if items is None:
                err("items_bad", raw_items)

        # customer keys
        card = v[C_CARD]
        if card:
            if " " in card:
                card = card.replace(" ", "")
            if not _CARD.match(card):
                err("card_bad")
        email = v[C_EMAIL]
        if email:
            email = email_value(email)
            if email is None:
                err("email_bad")
        phone = v[C_PHONE]
        if phone and store is not None:
            normalised = _phone(phone, store.country)
            if normalised is None:
                err("phone_bad", phone, store.country)
            else:
                phone = normalised

        # return
        return_of = v[C_RETURN_OF]
        if return_of:
            if not ticket_number_ok(return_of):
                err("return_bad")
            elif return_of == number:
                err("return_self")
            elif total is not None and total[0] != "-" and not _is_zero(total):
                err("return_positive")

        # return code (optional): its form here; whether a note has it, set-based in the engines
        return_code = v[C_RETURN_CODE]
        if return_code:
            return_code = return_code_normalise(return_code)
            if not return_code_is_well_formed(return_code):
                err("code_bad")

        if self.error_count != before:
            self.rows_refused += 1
            return None

        is_negative = total[0] == "-" and not _is_zero(total)
        staff_id = self._staff_id(v[C_STAFF], line) if v[C_STAFF] else None
        self.store_ids.add(store.id)
        return (
            line,
            store.id,
            number,
            at,
            total,
            items,
            card,
            email,
            phone,
            staff_id,
            return_of,
            is_negative or bool(return_of),
            return_code,
        )

    def parse_all(
        self,
        rows: Iterable[tuple[int, list[str]]],
        *,
        progress: Callable[[int], None] | None = None,
        every: int = 10_000,
    ) -> Iterator[Row]:
        """Yield the valid rows of ``rows`` ((line, values) pairs); reasons for the others pile up on self."""
        parse = self.parse
        count = 0
        for line, values in rows:
            row = parse(line, values)
            count += 1
            if progress is not None and count % every == 0:
                progress(count)
            if row is not None:
                yield row
        if progress is not None:
            progress(count)


# -- one value: shared with engine_pg, which sends the values its SQL does not handle here ---------------
def return_code_value(raw: str) -> str | None:
    """The normalised return code of ``raw`` (not empty), or None if it is not well formed."""
    code = return_code_normalise(raw)
    return code if return_code_is_well_formed(code) else None


def ticket_number_ok(number: str) -> bool:
    return len(number) <= 64 and not _NUMBER_BAD.search(number)


def iso_datetime(raw: str) -> dt.datetime | None:
    """``raw`` read as ISO 8601 (naive or aware), or None."""
    try:
        return dt.datetime.fromisoformat(raw)
    except ValueError:
        return None


def amount_normalise(raw: str) -> tuple[str | None, str]:
    """(the amount as ``[+-]digits[.dd]``, or None if it is not one; the decimal mark seen: ",", "." or "").

    Either decimal mark is understood; the other one (and spaces) may group thousands.
    """
    amount = raw
    if " " in amount or "\u00a0" in amount:
        amount = amount.replace(" ", "").replace("\u00a0", "")
    comma, point = amount.rfind(","), amount.rfind(".")
    mark = ""
    if comma >= 0:
        if comma > point:  # decimal comma; points (if any) group thousands
            amount = amount.replace(".", "").replace(",", ".")
            mark = ","
        else:  # decimal point; commas group thousands
            amount = amount.replace(",", "")
            mark = "."
    elif point >= 0:
        mark = "."
    m = _AMOUNT.match(amount)
    if m is None:
        return None, mark
    sign, whole, cents = m.group(1), m.group(2), m.group(3)
    if not whole.isascii() or (cents and not cents.isascii()):  # other scripts' digits: write them as 0-9
        whole = str(int(whole))
        cents = "".join(str(int(d)) for d in cents) if cents else cents
        amount = f"{sign}{whole}" + (f".{cents}" if cents else "")
    return amount, mark


def items_value(raw: str) -> int | None:
    return int(raw) if _ITEMS.match(raw) else None


def email_value(raw: str) -> str | None:
    """``raw`` lower-cased if it looks like an email address, else None."""
    email = raw.lower()
    if len(email) > 254 or not _EMAIL.match(email):
        return None
    return email


def _is_zero(amount: str) -> bool:
    return amount.lstrip("+-").replace(".", "").strip("0") == ""


def stores_index() -> dict[str, StoreInfo]:
    """Every store by code, with what parsing needs (time zone, phone region)."""
    from ..models import Store

    return {
        s.code.upper(): StoreInfo(id=s.pk, code=s.code, tz=s.tz, country=s.country)
        for s in Store.objects.only("pk", "code", "time_zone", "country")
    }


def conflict_issue(line: int, first: int, number: str) -> RowIssue:
    return RowIssue(
        line,
        "ticket",
        _("Ticket %(number)s appears again with different content (first on line %(first)s).")
        % {"number": number[:64], "first": first},
    )


def unknown_original_issue(line: int, number: str) -> RowIssue:
    return RowIssue(
        line,
        "return_of",
        _("No sale numbered %(number)s in this store, neither in this file nor already imported.")
        % {"number": number[:64]},
    )


def unknown_return_code_issue(line: int, code: str) -> RowIssue:
    return RowIssue(line, "return_code", _("No note has the return code %(code)s.") % {"code": code[:16]})


def foreign_return_code_issue(line: int, code: str) -> RowIssue:
    return RowIssue(
        line, "return_code", _("Return code %(code)s belongs to a note to another customer.") % {"code": code[:16]}
    )
