"""The demo's machine-readable story: one JSON object per line, for ``roamline demo --json``.

Each event has ``type`` (one of :data:`TYPES`), ``box`` (the rig's box name, or null), ``number`` (the
E.164 number concerned, or null) and ``at`` (UTC, ISO 8601 with milliseconds), plus fields of its own
(``holder``, ``cadence``, ``caller_id``, ``kind``/``expected``/``found`` for ``media.verified``, ...).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

from roamline.hil.errors import UsageError

TYPES = frozenset({"card.registered", "call.ringing", "call.answered", "media.verified", "call.ended",
                   "cdr.recorded", "emergency.dialled", "call.filtered"})


class DemoEvents:
    """Collects events and (with ``out``) prints each as one JSON line at once."""

    def __init__(self, out: TextIO | None = None, wall: Callable[[], float] = time.time) -> None:
        self.out = out
        self.wall = wall
        self.events: list[dict[str, Any]] = []

    def emit(self, type: str, *, box: str | None, number: str | None, **fields: Any) -> dict[str, Any]:
        if type not in TYPES:
            raise UsageError(f"no demo event type {type!r} (have {', '.join(sorted(TYPES))})")
        reserved = {"type", "box", "number", "at"} & fields.keys()
        if reserved:
            raise UsageError(f"event fields {sorted(reserved)} are set by emit itself")
        stamp = datetime.fromtimestamp(self.wall(), UTC).isoformat(timespec="milliseconds")
        at = stamp.replace("+00:00", "Z")
        event = {"type": type, "box": box, "number": number, "at": at, **fields}
        self.events.append(event)
        if self.out is not None:
            print(json.dumps(event, default=str), file=self.out, flush=True)
        return event


def stdout_events() -> DemoEvents:
    return DemoEvents(sys.stdout)
