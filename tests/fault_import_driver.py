"""``python -m tests.fault_import_driver``: runs ``manage.py import_tickets`` on request, in one long-lived process.

Each stdin line ``<database> <file>`` runs ``call_command("import_tickets", file)`` against that database of
the server in ``DATABASE_URL`` and answers one line ``RESULT {"code": …, "message": …}`` (0, or the
command's exit status). The fault test restarts PostgreSQL under it: the same command code, without paying
Django's start-up (seconds on a loaded machine) for each of the runs.
"""

import contextlib
import json
import os
import sys

import django


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    django.setup()
    from django.core.management import CommandError, call_command
    from django.db import connection, connections

    for line in sys.stdin:
        db, path = line.split()
        connections.close_all()
        connection.settings_dict["NAME"] = db
        try:
            call_command("import_tickets", path)
            result = {"code": 0, "message": ""}
        except CommandError as exc:
            result = {"code": exc.returncode, "message": str(exc)}
        except Exception as exc:  # the test shows it: an unexpected error is a finding
            result = {"code": -1, "message": f"{type(exc).__name__}: {exc}"}
        with contextlib.suppress(Exception):  # a connection the restart broke: nothing to close
            connections.close_all()
        print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
