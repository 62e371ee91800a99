"""Importing purchase tickets from the POS: CSV files (web and CLI) and the REST API share one service.

- rows.py: one row of strings → a typed row or reasons (shared by CSV and API);
- csvfile.py: streaming the canonical CSV (BOM, delimiter sniffing, line numbers);
- engine_pg.py: COPY into a staging table + set-based SQL (PostgreSQL);
- engine_orm.py: the same steps with the ORM (the embedded SQLite default);
- service.py: ``tickets_import`` — validate, check across rows, all-or-nothing insert, signals;
- batches.py: import history, preview/confirm, progress.
"""

from .batches import (
    import_batch_cancel,
    import_batch_confirm,
    import_batch_interrupted,
    import_batch_process,
    import_progress,
    tickets_import_csv,
)
from .csvfile import ImportFileError, csv_open
from .rows import COLUMNS, REQUIRED, RowIssue
from .service import ImportOutcome, engine_for, tickets_import

__all__ = [
    "COLUMNS",
    "REQUIRED",
    "ImportFileError",
    "ImportOutcome",
    "RowIssue",
    "csv_open",
    "engine_for",
    "import_batch_cancel",
    "import_batch_confirm",
    "import_batch_interrupted",
    "import_batch_process",
    "import_progress",
    "tickets_import",
    "tickets_import_csv",
]
