"""BG/NBD: parameter recovery on simulated data, and the published CDNOW fit (Fader, Hardie & Lee 2005)."""

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command

from outreach import bgnbd

CDNOW = Path(__file__).resolve().parent.parent / "data" / "CDNOW_sample.txt"
PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
AS_OF = dt.date(1997, 10, 1)


def cdnow_purchases() -> list[tuple[str, dt.date, Decimal]]:
    rows = []
    for line in CDNOW.read_text().splitlines():
        cid, _, day, _units, amount = line.split()
        rows.append((cid, dt.datetime.strptime(day, "%Y%m%d").date(), Decimal(amount)))
    return rows


def test_fit_recovers_the_parameters_it_simulated_from():
    truth = bgnbd.BGNBDParams(r=0.6, alpha=8.0, a=0.8, b=2.5)
    x, t_x, T = bgnbd.simulate(truth, 6000, 52.0, seed=3)
    fitted = bgnbd.fit(x, t_x, T)
    assert fitted.r == pytest.approx(truth.r, rel=0.1)
    assert fitted.alpha == pytest.approx(truth.alpha, rel=0.1)
    assert fitted.a == pytest.approx(truth.a, rel=0.25)
    assert fitted.b == pytest.approx(truth.b, rel=0.25)
    # The truth is no likelier than the maximum.
    assert bgnbd.log_likelihood((truth.r, truth.alpha, truth.a, truth.b), x, t_x, T).sum() <= fitted.log_likelihood


def test_fitting_distinct_combinations_with_weights_equals_fitting_every_customer():
    x, t_x, T = bgnbd.simulate(bgnbd.BGNBDParams(0.5, 6.0, 0.7, 2.0), 3000, 30.0, seed=5)
    x, t_x = x, np.floor(t_x)  # whole periods, so customers share combinations
    combos, counts = np.unique(np.stack([x, t_x, T], axis=1), axis=0, return_counts=True)
    assert len(combos) < len(x) / 3
    every = bgnbd.fit(x, t_x, T)
    grouped = bgnbd.fit(combos[:, 0], combos[:, 1], combos[:, 2], counts)
    assert grouped.r == pytest.approx(every.r, rel=1e-3) and grouped.b == pytest.approx(every.b, rel=1e-3)
    assert grouped.log_likelihood == pytest.approx(every.log_likelihood, rel=1e-9)


def test_p_alive_is_one_without_repeat_and_falls_with_absence():
    p = bgnbd.BGNBDParams(0.243, 4.414, 0.793, 2.426)
    assert bgnbd.p_alive(p, [0], [0], [30])[0] == 1.0
    alive = bgnbd.p_alive(p, [5, 5, 5], [20, 20, 20], [21, 30, 39])
    assert alive[0] > alive[1] > alive[2]
    assert bgnbd.expected_visits(p, 10, [5], [20], [21])[0] > bgnbd.expected_visits(p, 10, [5], [20], [39])[0] > 0


def test_cdnow_calibration_fit_reproduces_the_published_parameters():
    """39 weeks from 1997-01-01; recency and T in whole days between visit days, the last day being 1997-09-30."""
    days = defaultdict(set)
    for cid, day, _ in cdnow_purchases():
        if day < AS_OF:
            days[cid].add(day)
    end = AS_OF - dt.timedelta(days=1)
    rows = [(len(d) - 1, (max(d) - min(d)).days / 7, (end - min(d)).days / 7) for d in map(sorted, days.values())]
    fitted = bgnbd.fit(*np.array(rows).T)
    assert len(rows) == 2357
    for name, value in PUBLISHED.items():
        assert getattr(fitted, name) == pytest.approx(value, rel=0.02), name
    assert fitted.log_likelihood == pytest.approx(-9582.4, abs=0.5)


@pytest.mark.django_db
def test_fit_visit_model_command_on_cdnow_tickets_reproduces_the_published_parameters():
    """The same check end to end: CDNOW purchases as tickets in a UTC store, fitted from the database."""
    from customers.models import Customer, PurchaseTicket
    from tests.factories import StoreFactory

    store = StoreFactory(code="CDNOW", time_zone="UTC", currency="USD", country="US")
    purchases = cdnow_purchases()
    ids = sorted({cid for cid, _, _ in purchases})
    people = dict(
        zip(
            ids,
            Customer.objects.bulk_create([Customer(first_name=f"CDNOW {cid}", home_store=store) for cid in ids]),
            strict=True,
        )
    )
    PurchaseTicket.objects.bulk_create(
        [
            PurchaseTicket(
                store=store,
                number=f"C{i}",
                purchased_at=dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC),
                total=amount,
                customer=people[cid],
            )
            for i, (cid, day, amount) in enumerate(purchases)
        ],
        batch_size=5000,
    )
    out = StringIO()
    call_command("fit_visit_model", "--as-of", "1997-10-01", "--unit", "weeks", "--store", "CDNOW", stdout=out)
    printed = dict(line.split(None, 1) for line in out.getvalue().splitlines())
    assert int(printed["customers"]) == 2357
    for name, value in PUBLISHED.items():
        assert float(printed[name]) == pytest.approx(value, rel=0.02), name
    assert float(printed["log-likelihood"]) == pytest.approx(-9582.4, abs=0.5)
