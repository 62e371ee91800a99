"""gunicorn's settings (read from the working directory: the compose stack, the image, the benches).

Threaded workers: a request waiting on PostgreSQL or Redis frees its worker's CPU for another
thread, and a slow client no longer holds a whole process. One process per core (the GIL lets one
thread of a process run Python at a time), a few threads each; ``WEB_CONCURRENCY`` and
``WEB_THREADS`` override. Each thread keeps its own database connection (``CONN_MAX_AGE``), so
PostgreSQL sees up to workers × threads connections from the web service.
Measured on 2 cores: bench/README.md ("Server shape").
"""

import multiprocessing
import os

workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", 4))
timeout = 60
