"""The box's report of an emergency call, delivered through its durable outbox (docs/protocol.md §4.2).

The box enqueues one ``deliver`` of kind :data:`EMERGENCY_CALL_KIND` per emergency call at the moment it
dials (key ``emergency-call:CALL_ID``); a box that cannot reach the registry keeps it and delivers it on
reconnection. The registry records the call and notifies the box's emergency contacts.

    {"call_id": str, "box_id": str, "number": "911", "dialled_at": Unix seconds,
     "route": "own-line" | "sip" (| "cloud", older boxes), "card_id": holder's card id or "",
     "line": the call-back number
     (E.164 of the box's own line) or "", "location": a ``location`` object (wire.location) or null}

:func:`check_report` is lenient on purpose: an emergency report is never refused. A field that is
missing or malformed is replaced by its empty value and named in ``problems``, so the registry still
records the call and still notifies.
"""

from __future__ import annotations

import math
import re
from typing import Any

from roamline.wire import location as wire_location
from roamline.wire.errors import UsageError

EMERGENCY_CALL_KIND = "emergency-call"
"""The outbox ``deliver`` kind of an emergency call, the same at both ends."""

ROUTES = ("own-line", "sip", "cloud")
"""``own-line``: out the box's own line; ``sip``: a box with no line, through the cloud's SIP route
(``call.emergency``); ``cloud``: what boxes before the SIP route reported for a box with no line."""
_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_DIGITS = re.compile(r"[0-9*#]{1,15}")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def report_key(call_id: str) -> str:
    """The idempotency key of an emergency call's report (one per call)."""
    return f"{EMERGENCY_CALL_KIND}:{call_id}"


def check_report(payload: object) -> tuple[dict[str, Any], list[str]]:
    """The report's fields, normalised, and the problems found (empty when it is well formed).

    Raises UsageError only when there is no usable call id: without one the call cannot be recorded
    once (the delivery key still keeps the raw payload).
    """
    if not isinstance(payload, dict):
        raise UsageError("an emergency-call report must be an object")
    problems: list[str] = []
    call_id = payload.get("call_id")
    if not isinstance(call_id, str) or _ID.fullmatch(call_id) is None:
        raise UsageError("an emergency-call report needs a call_id (1-64 of A-Z a-z 0-9 . _ : -)")
    out: dict[str, Any] = {"call_id": call_id}

    def text(key: str, pattern: re.Pattern[str], *, empty_ok: bool = True) -> str:
        v = payload.get(key, "")
        if isinstance(v, str) and ((empty_ok and v == "") or pattern.fullmatch(v)):
            return v
        problems.append(f"{key}: malformed")
        return ""

    out["box_id"] = text("box_id", _ID)
    out["number"] = text("number", _DIGITS, empty_ok=False)
    out["card_id"] = text("card_id", _ID)
    out["line"] = text("line", _E164)
    route = payload.get("route")
    if route not in ROUTES:
        problems.append("route: malformed")
        route = ""
    out["route"] = route
    at = payload.get("dialled_at")
    if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at) or at < 0:
        problems.append("dialled_at: malformed")
        at = None
    out["dialled_at"] = None if at is None else float(at)
    loc = payload.get("location")
    if loc is None:
        out["location"] = None
    else:
        try:
            out["location"] = wire_location.check_snapshot(loc)
        except UsageError as exc:
            problems.append(f"location: {exc}")
            out["location"] = None
    return out, problems


__all__ = ["EMERGENCY_CALL_KIND", "ROUTES", "check_report", "report_key"]
