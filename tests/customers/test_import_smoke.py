import pytest

from customers.models import PurchaseTicket
from tests.customers.conftest import csv_bytes, sale

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("engine", ["postgresql", "orm"])
def test_smoke(store, run_import, engine):
    rows = [sale("A1", customer_card="2000000000015"), sale("A2", customer_email="X@Example.com"), sale("A3")]
    rows.append(sale("R1", total="-5.00", return_of="A1"))
    src, out = run_import(csv_bytes(rows), engine=engine)
    assert out.error_count == 0, out.errors
    assert out.committed
    assert out.inserted == 4
    assert out.customers_created == 2
    r = PurchaseTicket.objects.get(number="R1")
    assert r.original.number == "A1" and r.is_return
