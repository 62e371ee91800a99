"""Structured JSON logs: one object per line with the request or task id.

Log lines carry ids, never names, emails or phones; a test greps the logs of a
full run for the personas' personal strings.
"""

import json
import logging
from datetime import UTC, datetime

from celery.signals import task_postrun, task_prerun

from .context import request_id

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "request_id"}


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for key, value in vars(record).items():
            if key in _RESERVED or key.startswith("_"):
                continue
            if key == "request":
                # Django attaches the request to 4xx/5xx lines; its repr carries the query string
                # (a search for a name or phone). Method and path only.
                entry[key] = f"{getattr(value, 'method', '')} {getattr(value, 'path', '')}".strip()
                continue
            entry[key] = value if isinstance(value, str | int | float | bool | type(None)) else str(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


@task_prerun.connect
def _task_started(task_id=None, **kwargs) -> None:
    request_id.set(f"task:{task_id}")


@task_postrun.connect
def _task_finished(**kwargs) -> None:
    request_id.set("-")
