"""`manage.py backup` and the documented pg_restore round trip."""

import os
import subprocess
import uuid

import pytest
from django.core.management import call_command
from django.db import connection

from customers.models import Customer
from tests.factories import CustomerFactory, TicketFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _psql_env(db) -> dict:
    return {**os.environ, "PGPASSWORD": str(db["PASSWORD"] or "")}


def test_backup_and_restore_round_trip(tmp_path, store):
    customers = CustomerFactory.create_batch(5, home_store=store)
    TicketFactory(customer=customers[0], store=store)
    target = tmp_path / "regulars.dump"
    call_command("backup", "-o", str(target))
    assert target.stat().st_size > 0

    db = connection.settings_dict
    env = _psql_env(db)
    restored = f"restore_{uuid.uuid4().hex[:8]}"
    base = ["-h", db["HOST"], "-p", str(db["PORT"]), "-U", db["USER"]]
    subprocess.run(["createdb", *base, restored], check=True, env=env)
    try:
        # The restore command documented in the README.
        subprocess.run(
            ["pg_restore", "--no-owner", "--no-privileges", *base, "-d", restored, str(target)],
            check=True,
            env=env,
        )
        out = subprocess.run(
            ["psql", *base, "-d", restored, "-Atc", "select count(*) from customers_customer"],
            check=True,
            env=env,
            capture_output=True,
            text=True,
        ).stdout.strip()
        assert int(out) == Customer.objects.count() == 5
    finally:
        subprocess.run(["dropdb", *base, "--if-exists", restored], check=True, env=env)
