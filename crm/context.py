"""The id of the request or task being served, for log lines (never personal data)."""

from contextvars import ContextVar

request_id: ContextVar[str] = ContextVar("request_id", default="-")
