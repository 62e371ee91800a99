"""gunicorn's settings (read from the working directory: the compose stack, the image, the benches).

Threaded workers: a request waiting on PostgreSQL or Redis frees its worker's CPU for another
thread, and a slow client no longer holds a whole process. One process per core (the GIL lets one
thread of a process run Python at a time), a few threads each; ``WEB_CONCURRENCY`` and
``WEB_THREADS`` override. Each thread keeps its own database connection (``CONN_MAX_AGE``), so
PostgreSQL sees up to workers × threads connections from the web service.
Measured on 2 cores: bench/README.md ("Server shape"; "Session 5": 2 × 4 against 4 × 2, 4 × 1 and four
sync workers over three locked runs — with the 4-query page, 2 × 4 kept the dashboard's p95 at 97–128 ms in
4 of 4 page-runs, 4 × 2 at 102–215 ms; no shape won reliably on the shared machine, so the default stays).
"""

import multiprocessing
import os

workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", 4))
timeout = 60
