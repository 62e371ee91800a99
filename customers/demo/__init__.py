"""A reproducible demo chain: stores, staff of every role, customers with visit rhythms, tickets.

``demo_load(...)`` is what ``manage.py load_demo_data`` calls. The same seed and
``as_of`` give the same chain, row for row. It scales from the 2,000 customers of
``make demo`` (seconds) to 1,000,000 customers / ~20,000,000 tickets for
benchmarks:

- rows are generated per chunk of customers (constant memory), with ids assigned
  here, so tickets can point at their customer, returns at their sale and
  referrals at an earlier customer without reading anything back;
- on PostgreSQL each chunk is streamed through ``COPY ... FROM STDIN`` from a
  generator-backed file object (no per-row SQL, no ORM objects); on SQLite it
  goes through ``bulk_create`` in batches;
- sequences are reset afterwards so later inserts get fresh ids.

Demo data sends no signals (``tickets_created`` / ``customer_created``): it is a
fixture, not a sale. Card numbers are EAN-13s derived from the customer id, in
the "29" in-store range, so they are unique without a lookup.

Visit rhythms (what segmentation, win-back and thank-you lists should find):
weekly regulars, monthly regulars, regulars who stopped coming, occasional
shoppers, two-visit and one-visit customers, new customers, seasonal shoppers;
plus anonymous sales and returns linked to their original ticket.
"""

from .chain import OWNER, STORE_SPECS, StoreSpec
from .loader import demo_load
from .rhythms import PROFILES, DemoResult, demo_card_number
from .writers import IteratorFile

__all__ = [
    "OWNER",
    "PROFILES",
    "STORE_SPECS",
    "DemoResult",
    "IteratorFile",
    "StoreSpec",
    "demo_card_number",
    "demo_load",
]
