"""``python -m tests.fault_worker worker …``: a real Celery worker with test-only knobs, for the fault tests.

Environment:

* ``FAULT_PAUSE="<task name>:<prerun|postrun>:<n>[,…]"`` — the n-th execution of that task (counted
  across every process of every worker started with the same ``FAULT_COUNTER_DIR``) writes its pid to
  ``FAULT_MARKER.<i>`` (i: the point's position in the list) and sleeps, so the test can SIGKILL it
  exactly there. ``prerun``: before the task body (nothing of it committed); ``postrun``: after the
  body returned, before the message is acknowledged.
* ``FAULT_SEGMENT_CHUNK="<min>,<target>"`` — smaller segmentation chunks, so a small chain still fans
  out to several chunk tasks (production: ≥ 500 customers each).

Nothing else differs from ``celery -A crm worker``.
"""

import os
import sys
import time
from pathlib import Path

import django


def _count(task_name: str) -> int:
    """One more execution of ``task_name``; returns its number (1-based), shared across processes."""
    path = Path(os.environ["FAULT_COUNTER_DIR"]) / f"count-{task_name}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, b".")
    finally:
        os.close(fd)
    return path.stat().st_size


def _install_pauses(specs: list[str]) -> None:
    from celery.signals import task_postrun, task_prerun

    points = []
    for i, spec in enumerate(specs):
        name, phase, nth = spec.split(":")
        points.append((name, phase, int(nth), Path(f"{os.environ['FAULT_MARKER']}.{i}")))
    numbers: dict[str, int] = {}

    def hold(marker: Path) -> None:
        marker.write_text(str(os.getpid()))
        while True:  # until the test's SIGKILL
            time.sleep(1)

    @task_prerun.connect(weak=False)
    def before(task_id=None, task=None, **kwargs):
        if any(task.name == name for name, *_ in points):
            numbers[task_id] = _count(task.name)
        for name, phase, nth, marker in points:
            if task.name == name and phase == "prerun" and numbers[task_id] == nth:
                hold(marker)

    @task_postrun.connect(weak=False)
    def after(task_id=None, task=None, **kwargs):
        number = numbers.pop(task_id, None)
        for name, phase, nth, marker in points:
            if task.name == name and phase == "postrun" and number == nth:
                hold(marker)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    django.setup()
    if chunk := os.environ.get("FAULT_SEGMENT_CHUNK"):
        from outreach import services

        services.MIN_CHUNK, services.TARGET_CHUNK = (int(v) for v in chunk.split(","))
    if specs := os.environ.get("FAULT_PAUSE"):
        _install_pauses(specs.split(","))
    from crm.celery import app

    app.worker_main(sys.argv[1:])


if __name__ == "__main__":
    main()
