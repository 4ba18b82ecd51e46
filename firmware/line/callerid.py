"""Caller-ID assembly (sans-I/O): formatted ``+VCID=1`` records and unformatted ``+VCID=2`` MDMF/SDMF hex.

Records may arrive before the first ring, between rings, or never, fields in any order, some absent.
A message completes on the next ring, when a field repeats (a new message started), or after
``quiet_s`` seconds with no further record. Only whole lines whose key is a caller-ID key count, so a
NAME of "RING DATE" is just a name.
"""

from __future__ import annotations

import re

from roamline.firmware.line import events as ev

_FORMATTED = re.compile(r"^\s*(DATE|TIME|NMBR|NAME|DDN_NMBR|MESG)\s*=\s*(.*?)\s*$")
_HEX = re.compile(r"^[0-9A-Fa-f ]+$")
_MARKERS: dict[str, ev.FieldStatus] = {"P": "private", "O": "unavailable"}
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
    if raw[0] not in (0x80, 0x82, 0x04, 0x06) or raw[1] + 3 != len(raw):
        return None
    return raw


def decode_unformatted(raw: bytes) -> ev.CallerId | ev.BadCallerId:
    """Decode one MDMF/SDMF message (checksum verified)."""
    if sum(raw) & 0xFF:
        return ev.BadCallerId(f"checksum mismatch in {raw[:1].hex()} message")
    body = raw[2:-1]
    if raw[0] == 0x04:  # SDMF: MMDDHHMM then the number or a P/O marker
        if len(body) < 9:
            return ev.BadCallerId("SDMF message too short")
        stamp, number = _ascii(body[:8]), _ascii(body[8:])
        return _build({"DATE": stamp[:4], "TIME": stamp[4:], "NMBR": number}, "sdmf")
    if raw[0] != 0x80:
        return ev.BadCallerId(f"unsupported caller-ID message type 0x{raw[0]:02x}")
    fields: dict[str, str] = {}
    i = 0
    while i < len(body):
        if i + 2 > len(body) or i + 2 + body[i + 1] > len(body):
            return ev.BadCallerId("MDMF parameter overruns the message")
        kind, value = body[i], _ascii(body[i + 2 : i + 2 + body[i + 1]])
        i += 2 + body[i + 1]
        if kind == 0x01 and len(value) == 8:
            fields["DATE"], fields["TIME"] = value[:4], value[4:]
        elif kind in (0x02, 0x03):
            fields["NMBR"] = value
        elif kind == 0x04:
            fields.setdefault("NMBR", value)
        elif kind == 0x07:
            fields["NAME"] = value
        elif kind == 0x08:
            fields.setdefault("NAME", value)
    return _build(fields, "mdmf")


def _ascii(b: bytes) -> str:
    return b.decode("latin-1")[:MAX_FIELD]


def _split(value: str | None) -> tuple[str | None, ev.FieldStatus]:
    if value is None or value == "":
        return None, "absent"
    if value in _MARKERS:
        return None, _MARKERS[value]
    return value, "ok"


def _build(fields: dict[str, str], source: ev.CallerIdSource) -> ev.CallerId:
    number, number_status = _split(fields.get("NMBR", fields.get("DDN_NMBR")))
    name, name_status = _split(fields.get("NAME"))
    return ev.CallerId(
        number=number, name=name, date=fields.get("DATE") or None, time=fields.get("TIME") or None,
        number_status=number_status, name_status=name_status, source=source,
    )


class CallerIdAssembler:
    """Collects caller-ID records for one call; emits a ``CallerId`` (or ``BadCallerId``) when complete."""

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
        return [_build(fields, "formatted")] if fields else []


def encode_mdmf(number: str | None, name: str | None, stamp: str = "01010000", *,
                number_marker: str = "O", name_marker: str = "O") -> bytes:
    """An MDMF message (with checksum); used by tests and the benchmark's scripted modem."""
    body = bytearray(b"\x01\x08" + stamp.encode())
    if number is None:
        body += b"\x04\x01" + number_marker.encode()
    else:
        body += bytes((0x02, len(number))) + number.encode()
    if name is None:
        body += b"\x08\x01" + name_marker.encode()
    else:
        body += bytes((0x07, len(name))) + name.encode()
    msg = bytes((0x80, len(body))) + body
    return msg + bytes(((-sum(msg)) & 0xFF,))


def encode_sdmf(number: str, stamp: str = "01010000") -> bytes:
    msg = bytes((0x04, 8 + len(number))) + stamp.encode() + number.encode()
    return msg + bytes(((-sum(msg)) & 0xFF,))
