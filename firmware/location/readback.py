"""What the test number (933 in the US) says: the box's dispatchable address and call-back number, the two
things an emergency call from here sends (DESIGN §4.6(1)). Pure text; ``firmware.prompts`` speaks it."""

from __future__ import annotations

import re
from typing import Any

_STREET = ("HNO", "HNS", "PRD", "RD", "STS", "POD")
_AFTER = (("LOC", ""), ("UNIT", "unit"), ("FLR", "floor"), ("ROOM", "room"), ("SEAT", "seat"),
          ("A6", ""), ("A5", ""), ("A4", ""), ("A3", ""), ("A2", ""), ("A1", ""), ("PC", "postal code"),
          ("country", ""))
_CODE = re.compile(r"^[A-Z]{1,3}$")


def _say(text: str) -> str:
    """Spell short capital codes ("IL", "US") and digit strings one character at a time."""
    out = []
    for word in str(text).split():
        if _CODE.fullmatch(word) or (word.isdigit() and len(word) > 4):
            out.append(" ".join(word))
        else:
            out.append(word)
    return " ".join(out)


def address_text(location: dict[str, Any] | None) -> str:
    civic = (location or {}).get("civic") or {}
    if not isinstance(civic, dict) or not civic:
        return ""
    parts = []
    street = " ".join(_say(civic[k]) for k in _STREET if civic.get(k))
    if street:
        parts.append(street)
    for key, label in _AFTER:
        if civic.get(key):
            parts.append(f"{label} {_say(civic[key])}".strip())
    return ", ".join(parts)


def readback_text(location: dict[str, Any] | None, line_number: str) -> str:
    """The sentence spoken to a caller of the test number."""
    said = ["This is the emergency test line. Emergency calls from this telephone give this address:"]
    address = address_text(location)
    said.append(f"{address}." if address else "no address is recorded for this telephone.")
    if (location or {}).get("state") == "unconfirmed":
        said.append("This address is not confirmed: the telephone may have moved.")
    digits = line_number.removeprefix("+1") if line_number.startswith("+1") else line_number.lstrip("+")
    if digits:
        said.append(f"The call-back number is {', '.join(digits)}.")
    else:
        said.append("This telephone has no call-back number.")
    said.append("This was a test. No emergency call was made.")
    return " ".join(said)


__all__ = ["address_text", "readback_text"]
