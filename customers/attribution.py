"""Return codes at the till: which outreach note brought a customer back.

A printed or emailed note carries a short return code (and its QR code); the till sends it with the
sale (POS API or CSV column ``return_code``), or staff type or scan it on the counter screen. The
customer file does not know notes (outreach → customers), so codes are resolved through the
``return_codes_lookup`` signal, answered by outreach.

Rules (the same for the API, the CSV import and the counter):

- a code the chain never issued is refused, naming the field;
- a ticket of a known customer (card, email or phone) keeps its code only if the note was written to
  that same customer: a code of someone else's note is refused (a typo, or a note passed on — the
  campaign's figures must not count a return that is not the customer's);
- an **anonymous** ticket (no card, email or phone) with a valid code is attributed to the note, and
  is also linked to the note's customer when ``RETURN_CODES_IDENTIFY_CUSTOMER`` is on (the default):
  the customer brought a note addressed to them by name, as good as showing their card. Chains that
  want a visit to count only with the card set it off; the attribution still counts.
- what is stored on the ticket is the note's own return code, even when the till sent the note's
  voucher code, so one index answers "which sales did this note bring".
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings

from .signals import return_codes_lookup

_CODE = re.compile(r"^[0-9A-Z]{4,16}$")


@dataclass(frozen=True)
class ReturnCode:
    """A code a receiver knows: the note's own return code, the customer it was written to and the
    store whose staff wrote it (the search finds a code only inside that store's scope)."""

    code: str
    customer_id: int | None
    store_id: int | None = None


def return_code_normalise(raw: str) -> str:
    """Upper case, without the spaces and dashes people type or printers add ("wb-7k3q 92" → "WB7K3Q92")."""
    return raw.upper().replace(" ", "").replace("-", "")


def return_code_is_well_formed(code: str) -> bool:
    """4 to 16 letters or digits (after normalising): a return code or a voucher code, nothing else."""
    return bool(_CODE.match(code))


# What staff type or scan into a search box: a note's return code (6) or its gift voucher's code (10).
TYPED_CODE_LENGTHS = (6, 10)


def return_code_in_query(query: str) -> str:
    """The code a search box entry is shaped like (normalised), or "" — all digits are a card or phone number."""
    code = return_code_normalise(query or "")
    if len(code) in TYPED_CODE_LENGTHS and return_code_is_well_formed(code) and not code.isdigit():
        return code
    return ""


def return_codes_resolve(*, codes: Iterable[str]) -> dict[str, ReturnCode]:
    """The known ones of ``codes`` (normalised) → their note's return code and customer. One query per receiver."""
    wanted = frozenset(c for c in codes if c)
    if not wanted:
        return {}
    found: dict[str, ReturnCode] = {}
    for _receiver, answer in return_codes_lookup.send(sender=None, codes=wanted):
        if answer:
            found.update({code: rc for code, rc in answer.items() if code in wanted})
    return found


def anonymous_tickets_join_customer() -> bool:
    """Whether a valid return code on an anonymous ticket links the ticket to the note's customer."""
    return bool(getattr(settings, "RETURN_CODES_IDENTIFY_CUSTOMER", True))
