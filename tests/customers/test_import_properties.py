"""Property tests of the CSV ticket importer: any bytes in → a report out, never a crash, never half a file.

Both engines (PostgreSQL's COPY path and the ORM path) get the same inputs: arbitrary byte
strings, and structured fuzz — a valid header (either delimiter, any column order, with or
without a BOM) over random cells with quotes, NULs, control characters, huge fields and wrong
encodings, mixed with valid rows. For every input the importer either refuses the whole file
with an ImportFileError (a message, nothing imported) or returns an outcome whose row numbers
are real lines of the file, and the database holds exactly what the outcome says: all of the
file's new tickets if it committed, none otherwise. Each example runs in a savepoint that is
rolled back, so examples do not see each other's tickets.
"""

import datetime as dt
import io

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customers.importers import COLUMNS, REQUIRED, ImportFileError, tickets_import_csv
from customers.models import Customer, PurchaseTicket
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
ENGINES = ["pg", "orm"]
FUZZ = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.large_base_example],
)

# --- strategies ------------------------------------------------------------------------------------

nasty_text = st.text(
    alphabet=st.characters(codec="utf-8", categories=None, exclude_categories=["Cs"]),
    max_size=40,
)
quotes_and_breaks = st.sampled_from(['"', '""', '"a""b"', "a\nb", "\r\n", ";", ",", "\x00", "\ufeff", "\t", " "])
plausible = {
    "store": st.sampled_from(["CHZ", "chz", "YUN", "NOPE", ""]),
    "ticket": st.from_regex(r"[A-Z]{1,2}-?\d{1,4}", fullmatch=True),
    "purchased_at": st.sampled_from(
        ["2026-10-01T10:00:00", "2026-10-01 10:00", "2026-10-01T10:00:00+05:00", "01.10.2026 10:00", "soon", ""]
    ),
    "total": st.sampled_from(["25.00", "25,00", "-3.00", "0", "1e5", "12.345", "9999999999.99", "abc", ""]),
    "items": st.sampled_from(["1", "3", "-1", "many", "", "9999999"]),
    "customer_card": st.sampled_from(["2000000000015", "C001", "no spaces!", ""]),
    "customer_email": st.sampled_from(["a@example.test", "not-an-email", ""]),
    "customer_phone": st.sampled_from(["+998901234567", "901234567", "12", ""]),
    "staff": st.sampled_from(["", "anna.staff", "nobody"]),
    "return_of": st.sampled_from(["", "A-1", "NOPE"]),
    "return_code": st.sampled_from(["", "NOSUCH", "r4f9-k2"]),  # no note has them: refused, never a crash
}


def _cell(column: str) -> st.SearchStrategy[str]:
    return st.one_of(
        plausible[column],
        plausible[column],  # twice as likely as junk, so rows also get through
        nasty_text,
        quotes_and_breaks,
        st.just("x" * 70_000),  # a huge field
    )


def _quote(value: str, delimiter: str) -> str:
    if any(c in value for c in (delimiter, '"', "\n", "\r")):
        return '"' + value.replace('"', '""') + '"'
    return value


@st.composite
def ticket_files(draw) -> bytes:
    """A header naming the required columns (and some optional ones) over random rows."""
    optional = draw(st.lists(st.sampled_from([c for c in COLUMNS if c not in REQUIRED]), unique=True))
    columns = draw(st.permutations(list(REQUIRED) + optional))
    delimiter = draw(st.sampled_from([",", ";"]))
    header = delimiter.join(c.upper() if draw(st.booleans()) else c for c in columns)
    rows = draw(
        st.lists(
            st.fixed_dictionaries({c: _cell(c) for c in columns}),
            max_size=8,
        )
    )
    lines = [header] + [delimiter.join(_quote(row[c], delimiter) for c in columns) for row in rows]
    if draw(st.booleans()):  # a ragged row: too few or too many cells
        lines.append(delimiter.join(draw(st.lists(nasty_text, max_size=14))))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = newline.join(lines) + draw(st.sampled_from(["", newline, newline * 3]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "utf-16", "cp1251", "latin-1"]))
    data = text.encode(encoding, errors="replace")
    if draw(st.booleans()):  # a stray byte somewhere: an invalid UTF-8 sequence or a NUL
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\x00", b"\xed\xa0\x80"])) + data[at:]
    return data


# --- the property ----------------------------------------------------------------------------------


def _import_and_check(data: bytes, engine: str) -> None:
    with transaction.atomic():
        tickets_before = PurchaseTicket.objects.count()
        customers_before = Customer.objects.count()
        try:
            _source, outcome = tickets_import_csv(
                file=io.BytesIO(data), now=NOW, engine="orm" if engine == "orm" else None
            )
        except ImportFileError as refusal:
            assert str(refusal)  # the whole file is refused with a reason …
            assert PurchaseTicket.objects.count() == tickets_before  # … and nothing of it is kept
            assert Customer.objects.count() == customers_before
        else:
            lines = data.count(b"\n") + data.count(b"\r") + 1
            assert all(2 <= issue.line <= lines and issue.message for issue in outcome.errors), outcome.errors
            assert outcome.error_count >= len(outcome.errors)
            added = PurchaseTicket.objects.count() - tickets_before
            created = Customer.objects.count() - customers_before
            if outcome.committed:
                assert outcome.error_count == 0
                assert (added, created) == (outcome.inserted, outcome.customers_created)
                assert outcome.inserted + outcome.duplicates <= outcome.rows
            else:
                assert outcome.error_count > 0 or outcome.rows == 0
                assert (added, created) == (0, 0)  # all or nothing
        transaction.set_rollback(True)


@pytest.fixture
def chain(store, other_store, staff):
    CustomerFactory(home_store=store, card_number="2000000000015")
    tickets_import_csv(
        file=io.BytesIO(b"store,ticket,purchased_at,total\nCHZ,A-1,2026-10-01T10:00:00,25.00\n"), now=NOW
    )


@pytest.mark.parametrize("engine", ENGINES)
@FUZZ
@given(data=st.binary(max_size=3000))
def test_any_byte_string_gives_a_report_never_a_crash(chain, engine, data):
    _import_and_check(data, engine)


@pytest.mark.parametrize("engine", ENGINES)
@FUZZ
@given(data=ticket_files())
def test_a_header_over_random_cells_imports_all_or_nothing(chain, engine, data):
    _import_and_check(data, engine)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    "data",
    [
        b"store,ticket,purchased_at,total\nCHZ,N\x00UL,2026-10-01T10:00:00,1.00\n",
        b"store,ticket,purchased_at,total\nCHZ,B-1,2026-10-01T10:00:00,1.00\nCHZ,B-2,2026-10-01T10:00:00,1\x00\n",
        b"\xef\xbb\xbfstore;ticket;purchased_at;total;customer_email\nCHZ;B-3;2026-10-01 10:00;2,50;a\x00@x.test\n",
    ],
    ids=["nul-in-ticket", "nul-in-total", "nul-in-email"],
)
def test_embedded_nuls_are_refused_with_their_row_number(chain, engine, data):
    _import_and_check(data, engine)
