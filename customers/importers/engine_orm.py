"""The portable path (the embedded SQLite default): the same steps as engine_pg with the ORM.

Rows are held in memory and written with ``bulk_create`` in chunks, never one
``save()`` per row. A shop on the embedded default imports files of thousands
of rows, not millions; the PostgreSQL path is the one that streams. A test
runs both on the same file and compares the outcome.
"""

from array import array
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal

from django.db.models import Min
from django.db.models.functions import Lower

from ..models import Customer, PurchaseTicket
from .idruns import runs_of
from .rows import (
    R_AT,
    R_CARD,
    R_EMAIL,
    R_IS_RETURN,
    R_ITEMS,
    R_LINE,
    R_NUMBER,
    R_PHONE,
    R_RETURN_CODE,
    R_RETURN_OF,
    R_STAFF,
    R_STORE,
    R_TOTAL,
    Row,
    RowIssue,
    RowParser,
    conflict_issue,
    foreign_return_code_issue,
    unknown_original_issue,
    unknown_return_code_issue,
)

CHUNK = 1000


def _content(r: Row) -> tuple:
    return (
        r[R_AT],
        Decimal(r[R_TOTAL]),
        r[R_ITEMS],
        r[R_CARD],
        r[R_EMAIL],
        r[R_PHONE],
        r[R_STAFF],
        r[R_RETURN_OF],
        r[R_RETURN_CODE],
    )


def _chunks(values: list, size: int = CHUNK):
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _existing_tickets(keys: set[tuple[int, str]], *, sales_only: bool = False) -> dict[tuple[int, str], int]:
    """(store_id, number) → ticket id for those of ``keys`` the database has."""
    by_store: dict[int, list[str]] = {}
    for store_id, number in keys:
        by_store.setdefault(store_id, []).append(number)
    found: dict[tuple[int, str], int] = {}
    for store_id, numbers in by_store.items():
        for chunk in _chunks(numbers):
            qs = PurchaseTicket.objects.filter(store_id=store_id, number__in=chunk)
            if sales_only:
                qs = qs.filter(is_return=False)
            for pk, number in qs.values_list("pk", "number"):
                found[(store_id, number)] = pk
    return found


class OrmEngine:
    name = "orm"

    def __init__(self):
        self.rows: list[Row] = []
        self.created_ids = array("q")
        self.ticket_ids = array("q")
        self.staged = 0
        self.maps: dict[str, dict[str, int | None]] = {}
        self.codes: dict = {}  # presented return code → ReturnCode (customers.attribution)

    def stage(self, rows: Iterable[tuple[int, list[str]]], parser: RowParser, progress: Callable[[int], None]) -> None:
        """Parse and check every row in Python (rows.RowParser); keep the valid ones."""
        self.rows = list(parser.parse_all(rows, progress=progress))
        self.staged = len(self.rows)

    def conflicts(self) -> list[RowIssue]:
        first: dict[tuple[int, str], Row] = {}
        issues = []
        for r in self.rows:
            key = (r[R_STORE], r[R_NUMBER])
            f = first.get(key)
            if f is None:
                first[key] = r
            elif _content(r) != _content(f):
                issues.append(conflict_issue(r[R_LINE], f[R_LINE], r[R_NUMBER]))
        return issues

    def unknown_originals(self) -> list[RowIssue]:
        sales = {(r[R_STORE], r[R_NUMBER]) for r in self.rows if not r[R_IS_RETURN]}
        wanted = {(r[R_STORE], r[R_RETURN_OF]) for r in self.rows if r[R_RETURN_OF]} - sales
        known = sales | set(_existing_tickets(wanted, sales_only=True))
        return [
            unknown_original_issue(r[R_LINE], r[R_RETURN_OF])
            for r in self.rows
            if r[R_RETURN_OF] and (r[R_STORE], r[R_RETURN_OF]) not in known
        ]

    def return_codes(self) -> set[str]:
        return {r[R_RETURN_CODE] for r in self.rows if r[R_RETURN_CODE]}

    def unknown_return_codes(self, codes: dict) -> list[RowIssue]:
        """Rows whose return code no note has (``codes``: the known ones, from customers.attribution)."""
        self.codes = codes
        return [
            unknown_return_code_issue(r[R_LINE], r[R_RETURN_CODE])
            for r in self.rows
            if r[R_RETURN_CODE] and r[R_RETURN_CODE] not in codes
        ]

    def foreign_return_codes(self) -> list[RowIssue]:
        """After customers_resolve: rows of a known customer carrying the code of another customer's note."""
        issues = []
        for r in self.rows:
            if r[R_RETURN_CODE]:
                customer_id = self._customer_of(r)
                if customer_id is not None and customer_id != self.codes[r[R_RETURN_CODE]].customer_id:
                    issues.append(foreign_return_code_issue(r[R_LINE], r[R_RETURN_CODE]))
        return issues

    def drop_lines(self, lines: list[int]) -> None:
        if lines:
            drop = set(lines)
            self.rows = [r for r in self.rows if r[R_LINE] not in drop]

    def drop_duplicates(self) -> None:
        seen: set[tuple[int, str]] = set()
        unique = []
        for r in self.rows:
            key = (r[R_STORE], r[R_NUMBER])
            if key not in seen:
                seen.add(key)
                unique.append(r)
        existing = _existing_tickets(seen)
        self.rows = [r for r in unique if (r[R_STORE], r[R_NUMBER]) not in existing]

    # -- customers --------------------------------------------------------------------------
    def initial_load_begin(self) -> list[str]:
        """Initial-load mode is PostgreSQL's (initial_load.py); the ORM path always inserts row by row."""
        return []

    def initial_load_end(self) -> None:
        pass

    def customers_resolve(self) -> None:
        card = {r[R_CARD]: None for r in self.rows if r[R_CARD]}
        email = {r[R_EMAIL]: None for r in self.rows if r[R_EMAIL]}
        phone = {r[R_PHONE]: None for r in self.rows if r[R_PHONE]}
        for chunk in _chunks(list(card)):
            for pk, number in Customer.objects.filter(card_number__in=chunk).values_list("pk", "card_number"):
                card[number] = pk
        for chunk in _chunks(list(email)):
            rows = (
                Customer.objects.annotate(key=Lower("email"))
                .filter(key__in=chunk)
                .values("key")
                .annotate(first=Min("pk"))
                .values_list("key", "first")
            )
            email.update(rows)
        for chunk in _chunks(list(phone)):
            phone.update(
                Customer.objects.filter(phone__in=chunk)
                .values("phone")
                .annotate(first=Min("pk"))
                .values_list("phone", "first")
            )
        self.maps = {"card": card, "email": email, "phone": phone}
        for kind in ("card", "email", "phone"):
            self._create_for(kind)

    def _customer_of(self, r: Row) -> int | None:
        m = self.maps
        return (
            (m["card"].get(r[R_CARD]) if r[R_CARD] else None)
            or (m["email"].get(r[R_EMAIL]) if r[R_EMAIL] else None)
            or (m["phone"].get(r[R_PHONE]) if r[R_PHONE] else None)
        )

    def _create_for(self, kind: str) -> None:
        groups: dict[str, dict] = {}
        for r in self.rows:
            if self._customer_of(r) is not None:
                continue
            if kind == "card":
                key = r[R_CARD]
            elif kind == "email":
                key = r[R_EMAIL] if not r[R_CARD] else ""
            else:
                key = r[R_PHONE] if not r[R_CARD] and not r[R_EMAIL] else ""
            if not key:
                continue
            g = groups.setdefault(key, {"email": "", "phone": "", "store": r[R_STORE]})
            if not g["email"] and r[R_EMAIL]:
                g["email"] = r[R_EMAIL]
            if not g["phone"] and r[R_PHONE]:
                g["phone"] = r[R_PHONE]
        if not groups:
            return
        new = []
        for key, g in groups.items():
            customer = Customer(
                first_name="",
                last_name="",
                email=g["email"],
                phone=g["phone"],
                home_store_id=g["store"],
                details_missing=True,
            )
            if kind == "card":
                customer.card_number = key
            new.append(customer)
        for chunk in _chunks(new):
            Customer.objects.bulk_create(chunk)
        self.created_ids.extend(c.pk for c in new)
        for c in sorted(new, key=lambda c: c.pk):  # lowest id wins on a shared key, as in SQL
            for field, table in ((c.card_number, "card"), (c.email, "email"), (c.phone, "phone")):
                if field and field in self.maps[table] and self.maps[table][field] is None:
                    self.maps[table][field] = c.pk

    # -- tickets ----------------------------------------------------------------------------
    def _ticket(self, r: Row, original_id: int | None, link_anonymous: bool) -> PurchaseTicket:
        code = self.codes[r[R_RETURN_CODE]] if r[R_RETURN_CODE] else None
        customer_id = self._customer_of(r)
        if customer_id is None and code is not None and link_anonymous:
            customer_id = code.customer_id
        return PurchaseTicket(
            store_id=r[R_STORE],
            number=r[R_NUMBER],
            purchased_at=r[R_AT],
            total=Decimal(r[R_TOTAL]),
            items=r[R_ITEMS],
            served_by_id=r[R_STAFF],
            customer_id=customer_id,
            is_return=r[R_IS_RETURN],
            original_id=original_id,
            return_code=code.code if code is not None else "",
        )

    def tickets_insert(self, *, link_anonymous: bool) -> None:
        plain = [self._ticket(r, None, link_anonymous) for r in self.rows if not r[R_RETURN_OF]]
        for chunk in _chunks(plain):
            PurchaseTicket.objects.bulk_create(chunk)
        linked_rows = [r for r in self.rows if r[R_RETURN_OF]]
        originals = _existing_tickets({(r[R_STORE], r[R_RETURN_OF]) for r in linked_rows}, sales_only=True)
        linked = [self._ticket(r, originals[(r[R_STORE], r[R_RETURN_OF])], link_anonymous) for r in linked_rows]
        for chunk in _chunks(linked):
            PurchaseTicket.objects.bulk_create(chunk)
        self.ticket_ids.extend(sorted(t.pk for t in plain + linked))

    @property
    def inserted(self) -> int:
        return len(self.ticket_ids)

    @property
    def customers_created(self) -> int:
        return len(self.created_ids)

    def id_ranges(self, kind: str) -> Iterator[tuple[int, int]]:
        """The new ticket (``"t"``) or customer (``"c"``) ids as ascending runs ``(lo, hi)`` of consecutive ids."""
        return runs_of(sorted(self.ticket_ids if kind == "t" else self.created_ids))

    def id_chunks(self, kind: str, size: int) -> Iterator[list[int]]:
        """The new ticket (``"t"``) or customer (``"c"``) ids in ascending chunks of ``size``."""
        ids = sorted(self.ticket_ids if kind == "t" else self.created_ids)
        for i in range(0, len(ids), size):
            yield ids[i : i + size]

    def discard(self) -> None:
        self.ticket_ids = array("q")
        self.created_ids = array("q")

    def close(self) -> None:
        self.rows = []
