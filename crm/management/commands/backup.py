"""`python manage.py backup [-o FILE]`: a consistent copy of the database.

PostgreSQL: ``pg_dump --format=custom`` (restore with ``pg_restore``, see the
README). SQLite (the embedded default): SQLite's online backup API, safe while
the app runs.
"""

import os
import sqlite3
import subprocess
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone


def _pg_env_and_args(db: dict) -> tuple[dict, list[str]]:
    env = {**os.environ}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    args = []
    if db.get("HOST"):
        args += ["--host", str(db["HOST"])]
    if db.get("PORT"):
        args += ["--port", str(db["PORT"])]
    if db.get("USER"):
        args += ["--username", str(db["USER"])]
    return env, args


class Command(BaseCommand):
    help = "Write a backup of the database to FILE (pg_dump custom format, or a SQLite copy)."

    def add_arguments(self, parser):
        parser.add_argument("-o", "--output", help="Backup file (default: backups/regulars-<timestamp>.<ext>).")

    def handle(self, *args, output=None, **options):
        db = settings.DATABASES["default"]
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        if connection.vendor == "postgresql":
            path = Path(output or settings.BASE_DIR / "backups" / f"regulars-{stamp}.dump")
            path.parent.mkdir(parents=True, exist_ok=True)
            env, conn_args = _pg_env_and_args(db)
            cmd = ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", *conn_args, "--file", str(path)]
            result = subprocess.run([*cmd, str(db["NAME"])], env=env, capture_output=True, text=True)  # noqa: S603
            if result.returncode != 0:
                raise CommandError(f"pg_dump failed: {result.stderr.strip()}")
        elif connection.vendor == "sqlite":
            path = Path(output or settings.BASE_DIR / "backups" / f"regulars-{stamp}.sqlite3")
            path.parent.mkdir(parents=True, exist_ok=True)
            source = sqlite3.connect(str(db["NAME"]))
            target = sqlite3.connect(str(path))
            with target:
                source.backup(target)
            source.close()
            target.close()
        else:
            raise CommandError(f"No backup method for the {connection.vendor} database.")
        self.stdout.write(self.style.SUCCESS(f"Backup written to {path} ({path.stat().st_size} bytes)"))
