"""Structured logging: one logger per component, one line per event, key=value fields.

Components log with ``log.info("event-name", extra={"fields": {...}})``; this formatter renders the
fields as ``key=value`` (or one JSON object per line with ``--log-json``).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return dict(fields) if isinstance(fields, dict) else {}


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created)) + f".{int(record.msecs):03d}"
        parts = [stamp, record.levelname.lower(), record.name, record.getMessage()]
        for key, value in _fields(record).items():
            parts.append(f"{key}={value!r}" if isinstance(value, str) and " " in value else f"{key}={value}")
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        obj: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        obj.update(_fields(record))
        if record.exc_info:
            obj["exc"] = self.formatException(record.exc_info)
        return json.dumps(obj, default=str)


def configure(level: str = "warning", as_json: bool = False) -> None:
    """Send every ``roamline.*`` logger to stderr in one format. Idempotent."""
    root = logging.getLogger("roamline")
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if as_json else KeyValueFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False
