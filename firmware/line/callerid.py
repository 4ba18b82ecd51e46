"""Caller-ID assembly (sans-I/O): formatted ``+VCID=1`` records and unformatted ``+VCID=2`` MDMF/SDMF hex.

Records may arrive before the first ring, between rings, or never, fields in any order, some absent.
A message completes on the next ring, when a field repeats (a new message started), or after
``quiet_s`` seconds with no further record. Only whole lines whose key is a caller-ID key count, so a
NAME of "RING DATE" is just a name. Hex messages are decoded by the one caller-ID codec
(:mod:`roamline.firmware.callerid.codec`); what a line reports is its :class:`CallerId`.
"""

from __future__ import annotations

import re

from roamline.firmware.callerid import codec
from roamline.firmware.line import events as ev

_FORMATTED = re.compile(r"^\s*(DATE|TIME|NMBR|NAME|DDN_NMBR|MESG)\s*=\s*(.*?)\s*$")
_HEX = re.compile(r"^[0-9A-Fa-f ]+$")
_MARKERS = {"P": codec.Absence.PRIVATE, "O": codec.Absence.UNAVAILABLE}
MAX_FIELD = 80  # longer values are cut: bounded memory, the exchange sends ≤ 15/18 chars


def formatted_key(line: str) -> tuple[str, str] | None:
    """(key, value) if ``line`` is a formatted caller-ID record."""
    m = _FORMATTED.match(line)
    if m is None:
        return None
    return m.group(1), m.group(2) if m.group(1) == "MESG" else m.group(2)[:MAX_FIELD]


def unformatted_bytes(line: str) -> bytes | None:
    """The message bytes if ``line`` is hex whose framing (type, length) looks like an MDMF/SDMF message."""
    if not _HEX.match(line):
        return None
    digits = line.replace(" ", "")
    if len(digits) < 6 or len(digits) % 2:
        return None
    raw = bytes.fromhex(digits)
    if raw[0] not in codec.MESSAGE_TYPES or raw[1] + 3 != len(raw):
        return None
    return raw


def decode_unformatted(raw: bytes) -> ev.CallerIdReceived | ev.BadCallerId:
    """Decode one MDMF/SDMF message (checksum verified); a malformed one is reported, never raised."""
    try:
        msg = codec.decode(raw)
    except codec.CallerIdError as exc:
        return ev.BadCallerId(str(exc))
    if isinstance(msg, codec.MessageWaiting):
        return ev.BadCallerId(f"unsupported caller-ID message type 0x{raw[0]:02x}")
    return ev.CallerIdReceived(msg, "sdmf" if raw[0] == codec.SDMF_CALL else "mdmf")


def _split(value: str | None) -> tuple[str | None, codec.Absence | None]:
    if value is None or value == "":
        return None, None
    return (None, _MARKERS[value]) if value in _MARKERS else (value, None)


def _build(fields: dict[str, str]) -> ev.CallerIdReceived:
    number, number_absent = _split(fields.get("NMBR", fields.get("DDN_NMBR")))
    name, name_absent = _split(fields.get("NAME"))
    when = codec.Stamp.from_text(fields.get("DATE"), fields.get("TIME"))
    cid = codec.CallerId(number, name, when, number_absent=number_absent, name_absent=name_absent)
    return ev.CallerIdReceived(cid, "formatted")


class CallerIdAssembler:
    """Collects caller-ID records for one call; emits ``CallerIdReceived`` or ``BadCallerId`` when done."""

    def __init__(self, quiet_s: float = 1.5) -> None:
        self.quiet_s = quiet_s
        self._fields: dict[str, str] = {}
        self._deadline: float | None = None

    def feed_line(self, line: str, now: float) -> list[ev.LineEvent] | None:
        """Offer one modem line. ``None`` if it is not caller ID (the caller handles it), else events."""
        kv = formatted_key(line)
        if kv is not None:
            key, value = kv
            raw = unformatted_bytes(value) if key == "MESG" else None
            if raw is not None:  # some chipsets tag +VCID=2 hex as MESG
                return [*self._complete(), decode_unformatted(raw)]
            out = self._complete() if key in self._fields else []
            if key != "MESG":
                self._fields[key] = value
            self._deadline = now + self.quiet_s
            return out
        raw = unformatted_bytes(line)
        if raw is None:
            return None
        return [*self._complete(), decode_unformatted(raw)]

    def ring(self, now: float) -> list[ev.LineEvent]:
        """A ring completes whatever was collected before it."""
        return self._complete()

    def poll(self, now: float) -> list[ev.LineEvent]:
        if self._deadline is not None and now >= self._deadline:
            return self._complete()
        return []

    def deadline(self) -> float | None:
        return self._deadline

    def reset(self) -> None:
        self._fields, self._deadline = {}, None

    def _complete(self) -> list[ev.LineEvent]:
        fields, self._fields, self._deadline = self._fields, {}, None
        return [_build(fields)] if fields else []
