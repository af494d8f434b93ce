"""Logging for every process: one JSON object per line (LOG_FORMAT=json) or readable text (text), at LOG_LEVEL.

Each line carries the context of the work it belongs to: `request_id`, `api_key_id` (a short hash of the
key, never the key), `job_id`, `chunk` and `model`, bound with `bind`/`bound` and added by a filter, so a
library's own lines (Celery's, gunicorn's) carry them too.

    configure(settings)                 # the API (create_app), the workers (Celery's setup_logging)
    gunicorn_logconfig(settings)        # gunicorn.conf.py: its own lines in the same form
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import logging.config
import sys
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import IO, Any

from pythonjsonlogger.json import JsonFormatter

from shared.queue import SCORE_CHUNK
from shared.settings import Settings

CONTEXT_FIELDS = ("request_id", "api_key_id", "job_id", "chunk", "model")
"""Fields bound to the work in hand, added to every line logged meanwhile."""

QUIETED = {"celery.worker.strategy": logging.WARNING, "celery.app.trace": logging.WARNING,
           "celery.pool": logging.INFO, "gunicorn.error": logging.INFO}
"""Per-message lines of Celery (received, applied, succeeded) and gunicorn (each request): predq logs each
chunk and request itself, with its context."""

_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar("predq_log_context",
                                                                          default=MappingProxyType({}))


def bind(**fields: Any) -> None:
    """Add `fields` to the context of this thread (or task) until `clear`."""
    _context.set({**_context.get(), **fields})


def clear() -> None:
    _context.set({})


@contextlib.contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """`fields` in the context for the block only."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def current(name: str) -> Any:
    return _context.get().get(name)


def key_id(owner: str) -> str:
    """The short id logged for an API key: 12 hex digits of its hash (the owner), or 'public'."""
    return owner[:12]


class ContextFilter(logging.Filter):
    """Copies the bound context onto each record (a field the call passed itself wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _context.get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class JsonLines(JsonFormatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, then every extra field."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s %(message)s", timestamp="time",
                         rename_fields={"levelname": "level", "name": "logger"})


class TextLines(logging.Formatter):
    """time level logger: message key=value ... (the context and extra fields), for a terminal."""

    RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = {k: v for k, v in record.__dict__.items() if k not in self.RESERVED and not k.startswith("_")}
        return line + "".join(f" {k}={v}" for k, v in extra.items())


class LineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """predq's handler (on stderr): `configure` replaces it, and leaves any other (pytest's) alone."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        super().__init__(stream or sys.stderr)
        self.addFilter(ContextFilter())


def formatter_class(log_format: str) -> type[logging.Formatter]:
    return JsonLines if log_format == "json" else TextLines


def configure(settings: Settings, stream: IO[str] | None = None) -> None:
    """Every line of this process through one handler on stderr, in LOG_FORMAT, at LOG_LEVEL."""
    handler = LineHandler(stream)
    handler.setFormatter(formatter_class(settings.log_format)())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, LineHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    for name, level in QUIETED.items():
        logging.getLogger(name).setLevel(max(level, root.level))
    logging.captureWarnings(True)  # warnings (Celery's SecurityWarning) as records in the same form


def _level(settings: Settings) -> int:
    return logging.getLevelNamesMapping()[settings.log_level.upper()]


def gunicorn_logconfig(settings: Settings) -> dict[str, Any]:
    """gunicorn's `logconfig_dict`: its own lines (boot, worker exits) in LOG_FORMAT; no access log
    (the API logs one line per request itself)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"line": {"()": formatter_class(settings.log_format)}},
        "handlers": {"stderr": {"()": LineHandler, "formatter": "line"}},
        "root": {"level": settings.log_level.upper(), "handlers": ["stderr"]},
        "loggers": {"gunicorn.error": {"level": max(QUIETED["gunicorn.error"], _level(settings)), "handlers": [],
                                       "propagate": True},
                    "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False}},
    }


def connect_celery(settings: Settings) -> None:
    """Workers log as configured here, not as Celery would (its --loglevel gives way to LOG_LEVEL);
    each task's lines carry its job and chunk."""
    from celery.signals import setup_logging, task_postrun, task_prerun

    def setup(**_: Any) -> None:
        configure(settings)

    def prerun(task: Any = None, args: Any = None, **_: Any) -> None:
        clear()
        if args:  # every predq task takes a job id first; score_chunk a chunk index second
            bind(job_id=str(args[0]), **({"chunk": args[1]} if getattr(task, "name", "") == SCORE_CHUNK else {}))

    def postrun(**_: Any) -> None:
        clear()

    for signal, receiver in ((setup_logging, setup), (task_prerun, prerun), (task_postrun, postrun)):
        signal.connect(receiver, weak=False)
    configure(settings)  # now, as the app loads: what Celery warns before it sets up logging comes out the same
