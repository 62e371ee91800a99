"""Visit rhythms and the row generator: customers and their tickets, chunk by chunk, from one seed."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import zoneinfo
from dataclasses import dataclass, field
from decimal import Decimal

from ..models import Channel, Store, ean13_check_digit
from .chain import Region, StoreSpec

UTC = dt.UTC
HISTORY_DAYS = 730  # two years of tickets before as_of

# --- Visit rhythms -----------------------------------------------------------------------

PROFILES: tuple[tuple[str, float], ...] = (
    ("weekly", 0.07),  # the best customers: every week, still coming
    ("monthly", 0.15),  # every month or so, still coming
    ("lapsed", 0.08),  # came every week or two for months, then stopped (win-back list)
    ("occasional", 0.12),  # every two to four months
    ("two_visits", 0.12),  # came twice: never a lapsed regular
    ("one_visit", 0.24),  # came once
    ("new", 0.08),  # signed up in the last six weeks
    ("seasonal", 0.14),  # Navruz/Nowruz in March and the year-end holidays
)
ANONYMOUS_SHARE = 0.75  # anonymous sales per customer sale (~40 % of tickets carry no card)
RETURN_RATE = 0.025  # share of sales returned (fully or in part) within two weeks
OPENING_HOURS = (9, 21)
MAX_TOTAL = Decimal("999999990.00")  # far above any basket; keeps freak draws inside the column
HOUR_WEIGHTS = (3, 4, 5, 6, 6, 5, 5, 6, 8, 10, 9, 6)  # 09:00 … 20:00, evening peak
_HOURS = range(len(HOUR_WEIGHTS))
_HOUR_CUM = list(itertools.accumulate(HOUR_WEIGHTS))


def _visit_days(rng: random.Random, profile: str, horizon: int) -> list[int]:
    """Days before as_of (descending order not guaranteed) on which the customer buys."""

    def rhythm(start: int, stop: int, gap: float, jitter: float, skip: float = 0.0) -> list[int]:
        days, day = [], start
        while day >= stop:
            if rng.random() >= skip:
                days.append(day)
            day -= max(1, round(rng.gauss(gap, jitter)))
        return days

    if profile == "weekly":
        return rhythm(rng.randint(150, horizon), rng.randint(0, 6), 7, 1.2, skip=0.1)
    if profile == "monthly":
        return rhythm(rng.randint(240, horizon), rng.randint(0, 20), 30, 6)
    if profile == "lapsed":
        stop = rng.randint(60, 270)
        return rhythm(min(horizon, stop + rng.randint(120, 460)), stop, rng.choice((7, 7, 10, 14)), 2, skip=0.05)
    if profile == "occasional":
        return rhythm(rng.randint(200, horizon), rng.randint(0, 90), rng.uniform(60, 120), 15)
    if profile == "two_visits":
        first = rng.randint(30, horizon)
        return [first, max(0, first - rng.randint(3, 150))]
    if profile == "one_visit":
        return [rng.randint(1, horizon)]
    if profile == "new":
        first = rng.randint(0, 42)
        return sorted({first, *(rng.randint(0, first) for _ in range(rng.randint(0, 2)))}, reverse=True)
    if profile == "seasonal":
        return []  # dated by _seasonal_days (needs the calendar)
    raise ValueError(profile)


def _seasonal_days(rng: random.Random, as_of: dt.date, horizon: int) -> list[int]:
    """Two to four visits around Navruz (March) and the year-end holidays of each year in the window."""
    days = []
    for year in range(as_of.year - 2, as_of.year + 1):
        for month, first, last in ((3, 8, 24), (12, 12, 31)):
            if rng.random() < 0.25:  # skipped a season
                continue
            for _ in range(rng.randint(1, 3)):
                day = dt.date(year, month, rng.randint(first, last))
                offset = (as_of - day).days
                if 0 <= offset <= horizon:
                    days.append(offset)
    return days or [rng.randint(1, horizon)]


# --- Rows --------------------------------------------------------------------------------

CUSTOMER_FIELDS = (
    "id", "first_name", "last_name", "email", "phone", "city", "postal_address", "birthday",
    "preferred_language", "preferred_channel", "home_store_id", "card_number", "details_missing",
    "referred_by_id", "created_at", "consent_email", "consent_post", "consent_sms", "do_not_contact",
)  # fmt: skip
TICKET_FIELDS = (
    "id", "store_id", "number", "purchased_at", "total", "items", "served_by_id", "customer_id",
    "is_return", "original_id", "created_at",
)  # fmt: skip


def demo_card_number(customer_id: int) -> str:
    """A unique EAN-13 for a demo customer: "29" + the id on ten digits + check digit."""
    body = f"29{customer_id:010d}"
    return body + ean13_check_digit(body)


@dataclass
class _StoreCtx:
    store: Store
    spec: StoreSpec
    region: Region
    tz: zoneinfo.ZoneInfo
    staff_ids: list[int]
    recent: list[tuple[int, dt.datetime]] = field(default_factory=list)  # (id, signed up): referrers


@dataclass
class DemoResult:
    stores: int = 0
    users: int = 0
    customers: int = 0
    tickets: int = 0
    returns: int = 0
    anonymous: int = 0
    seconds: float = 0.0
    method: str = ""
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # username, role, store code


class _Generator:
    """Produces customer and ticket rows chunk by chunk, deterministically from the seed."""

    def __init__(self, *, seed: int, as_of: dt.datetime, stores: list[_StoreCtx], first_customer_id: int,
                 first_ticket_id: int):  # fmt: skip
        self.rng = random.Random(seed)
        self.as_of = as_of
        self.as_of_date = as_of.astimezone(UTC).date()
        self.stores = stores
        self.store_weights = [s.spec.weight for s in stores]
        self.next_customer_id = first_customer_id
        self.next_ticket_id = first_ticket_id
        self.profiles = [p for p, _ in PROFILES]
        self.profile_weights = [w for _, w in PROFILES]
        self.result = DemoResult()

    # Customers ------------------------------------------------------------------------

    def _person(self, ctx: _StoreCtx, cid: int) -> tuple[tuple, list[dt.datetime]]:
        rng = self.rng
        region = ctx.region
        pops = region.populations
        pop = pops[0][0] if len(pops) == 1 else rng.choices([p for p, _ in pops], [w for _, w in pops])[0]
        female = rng.random() < 0.56  # shoppers skew female
        first, first_ascii = rng.choice(pop.female if female else pop.male)
        male_s, female_s, last_ascii = rng.choice(pop.surnames)
        last = female_s if female else male_s
        city, post, _ = rng.choices(region.cities, [w for *_, w in region.cities])[0]

        profile = rng.choices(self.profiles, self.profile_weights)[0]
        days = (
            _seasonal_days(rng, self.as_of_date, HISTORY_DAYS)
            if profile == "seasonal"
            else _visit_days(rng, profile, HISTORY_DAYS)
        )
        times = sorted(self._local_time(ctx, day) for day in days)
        first_visit = times[0] if times else self._local_time(ctx, 0)

        has_email = rng.random() < 0.62
        has_phone = rng.random() < 0.85 or not has_email
        email = f"{first_ascii}.{last_ascii}{cid}@{rng.choice(pop.email_domains)}" if has_email else ""
        # Unique per customer: the last seven digits are a permutation of the id.
        phone = f"{rng.choice(region.phone_prefixes)}{(cid * 7919 + 1_234_567) % 10_000_000:07d}" if has_phone else ""
        has_address = rng.random() < 0.8
        address = (
            region.address(rng.choice(region.streets), rng.randint(1, 180), rng.randint(1, 120), city, post)
            if has_address
            else ""
        )
        birthday = None
        if rng.random() < 0.55:
            birthday = dt.date(rng.randint(1950, 2006), rng.randint(1, 12), rng.randint(1, 28))
        if has_address and rng.random() < 0.3:
            channel = Channel.POST
        elif has_email and rng.random() < 0.75:
            channel = Channel.EMAIL
        elif has_phone:
            channel = rng.choice((Channel.SMS, Channel.SMS, Channel.PHONE))
        else:
            channel = Channel.POST if has_address else Channel.EMAIL
        details_missing = rng.random() < 0.01
        if details_missing:  # created at the till with a name and a card only: staff should complete it
            email, city, address, birthday = "", "", "", None
            phone = f"{region.phone_prefixes[0]}{(cid * 7919 + 1_234_567) % 10_000_000:07d}"
            channel = Channel.SMS
        signed_up = first_visit - dt.timedelta(minutes=rng.randint(1, 30))  # the card is issued at the till
        referred_by = None
        if ctx.recent and rng.random() < 0.08:
            referrer_id, referrer_since = rng.choice(ctx.recent)
            if referrer_since < signed_up:  # a friend brings you in only once they are a member
                referred_by = referrer_id
        ctx.recent.append((cid, signed_up))
        if len(ctx.recent) > 500:  # referrers come from the recent past: bounded memory
            del ctx.recent[:250]
        # Consent per channel, from a hash of the id so the random stream (and every other
        # column) stays what it was: ~70 % allow email, ~60 % post, ~50 % SMS, 1 % ask for no contact.
        h = (cid * 2654435761) % 1000
        consent = (bool(email) and h % 10 < 7, bool(address) and h // 10 % 10 < 6, bool(phone) and h // 100 < 5)
        row = (
            cid, first, last, email, phone, city, address, birthday, pop.language, channel, ctx.store.pk,
            demo_card_number(cid), details_missing, referred_by, signed_up, *consent, h < 10,
        )  # fmt: skip
        return row, times

    def _local_time(self, ctx: _StoreCtx, days_before: int) -> dt.datetime:
        """A shop-hours moment ``days_before`` days before as_of, in the store's zone, as UTC."""
        rng = self.rng
        day = self.as_of_date - dt.timedelta(days=days_before)
        hour = OPENING_HOURS[0] + rng.choices(_HOURS, cum_weights=_HOUR_CUM)[0]
        local = dt.datetime(day.year, day.month, day.day, hour, rng.randint(0, 59), rng.randint(0, 59), tzinfo=ctx.tz)
        at = local.astimezone(UTC)
        return at if at < self.as_of else at - dt.timedelta(days=1)  # today, after "now": yesterday

    # Tickets ------------------------------------------------------------------------

    def _sale(self, ctx: _StoreCtx, at: dt.datetime, customer_id: int | None, big: float = 1.0) -> tuple:
        rng = self.rng
        region = ctx.region
        items = min(40, 1 + int(rng.expovariate(1 / 2.2)))
        unit = rng.lognormvariate(0, 0.45) * region.unit_price * big
        step = region.price_step
        total = (Decimal(str(round(items * unit / float(step)))) * step).quantize(Decimal("0.01"))
        total = min(max(total, step.quantize(Decimal("0.01"))), MAX_TOTAL)
        tid = self.next_ticket_id
        self.next_ticket_id += 1
        served_by = rng.choice(ctx.staff_ids)
        return (tid, ctx.store.pk, f"D{tid:09d}", at, total, items, served_by, customer_id, False, None, at)

    def _maybe_return(self, ctx: _StoreCtx, sale: tuple) -> tuple | None:
        rng = self.rng
        if rng.random() >= RETURN_RATE:
            return None
        at = sale[3] + dt.timedelta(days=rng.randint(0, 14), hours=rng.randint(0, 5), minutes=rng.randint(1, 59))
        if at >= self.as_of:
            return None
        items = sale[5] if rng.random() < 0.5 else rng.randint(1, sale[5])
        total = -(sale[4] * items / sale[5]).quantize(Decimal("0.01"))
        tid = self.next_ticket_id
        self.next_ticket_id += 1
        return (tid, ctx.store.pk, f"D{tid:09d}", at, total, items, rng.choice(ctx.staff_ids), sale[7], True,
                sale[0], at)  # fmt: skip

    def chunk(self, size: int) -> tuple[list[tuple], list[tuple]]:
        """The next ``size`` customers and all their tickets, plus the anonymous sales around them."""
        rng = self.rng
        customers, tickets = [], []
        customer_sales = 0
        for _ in range(size):
            ctx = rng.choices(self.stores, self.store_weights)[0]
            cid = self.next_customer_id
            self.next_customer_id += 1
            row, times = self._person(ctx, cid)
            customers.append(row)
            big = rng.lognormvariate(0, 0.3)  # some people buy more than others, every time
            for at in times:
                sale = self._sale(ctx, at, cid, big)
                tickets.append(sale)
                customer_sales += 1
                ret = self._maybe_return(ctx, sale)
                if ret:
                    tickets.append(ret)
                    self.result.returns += 1
        anonymous = round(customer_sales * ANONYMOUS_SHARE)
        for _ in range(anonymous):
            ctx = rng.choices(self.stores, self.store_weights)[0]
            sale = self._sale(ctx, self._local_time(ctx, rng.randint(0, HISTORY_DAYS)), None)
            tickets.append(sale)
            ret = self._maybe_return(ctx, sale)
            if ret:
                tickets.append(ret)
                self.result.returns += 1
        self.result.anonymous += anonymous
        self.result.customers += len(customers)
        self.result.tickets += len(tickets)
        return customers, tickets
