"""Caller-ID messages as the exchange sends them (Bell 202 MDMF/SDMF payloads) and as modems show them."""

from __future__ import annotations

from dataclasses import dataclass

from roamline.hil.errors import UsageError

MDMF, SDMF = 0x80, 0x04
P_DATETIME, P_NUMBER, P_NUMBER_ABSENT, P_NAME, P_NAME_ABSENT = 0x01, 0x02, 0x04, 0x07, 0x08
PRIVATE, UNAVAILABLE = "P", "O"


@dataclass(frozen=True, slots=True)
class Presentation:
    """What the exchange tells the called line about the caller.

    ``number``/``name``: a value, ``"P"`` (private, withheld) or ``"O"`` (out of area / unavailable),
    or None (not sent). ``date`` MMDD and ``time`` HHMM. ``format``: "mdmf" or "sdmf" (no name).
    ``corrupt``: the checksum is wrong (line noise).
    """

    number: str | None
    name: str | None = None
    date: str = "0101"
    time: str = "0000"
    format: str = "mdmf"
    corrupt: bool = False

    def __post_init__(self) -> None:
        if self.format not in ("mdmf", "sdmf"):
            raise UsageError(f"caller-ID format must be mdmf or sdmf, not {self.format!r}")
        if len(self.date) != 4 or len(self.time) != 4 or not (self.date + self.time).isdigit():
            raise UsageError("caller-ID date is MMDD and time is HHMM")
        for v in (self.number, self.name):
            if v is not None and (not v or len(v) > 64 or not v.isascii() or not v.isprintable()):
                raise UsageError(f"caller-ID field must be 1..64 printable ASCII characters: {v!r}")


def checksum(body: bytes) -> int:
    """The byte that makes the message's bytes sum to 0 modulo 256."""
    return (-sum(body)) & 0xFF


def encode(p: Presentation) -> bytes:
    """The message bytes: type, length, parameters, checksum."""
    dt = (p.date + p.time).encode()
    if p.format == "sdmf":
        num = (p.number or UNAVAILABLE).encode()
        payload = dt + num
        body = bytes([SDMF, len(payload)]) + payload
    else:
        params = bytearray()

        def put(ptype: int, value: bytes) -> None:
            params.extend([ptype, len(value)])
            params.extend(value)

        put(P_DATETIME, dt)
        if p.number in (PRIVATE, UNAVAILABLE):
            put(P_NUMBER_ABSENT, p.number.encode())
        elif p.number is not None:
            put(P_NUMBER, p.number.encode())
        if p.name in (PRIVATE, UNAVAILABLE):
            put(P_NAME_ABSENT, p.name.encode())
        elif p.name is not None:
            put(P_NAME, p.name.encode())
        body = bytes([MDMF, len(params)]) + bytes(params)
    cs = checksum(body)
    if p.corrupt:
        cs ^= 0x5A
    return body + bytes([cs])


def formatted_lines(p: Presentation, sep: str) -> list[str]:
    """The +VCID=1 lines a modem prints for a good message (number/name P or O shown as such)."""
    lines = [f"DATE{sep}{p.date}", f"TIME{sep}{p.time}"]
    if p.format == "sdmf":
        lines.append(f"NMBR{sep}{p.number or UNAVAILABLE}")
        return lines
    if p.number is not None:
        lines.append(f"NMBR{sep}{p.number}")
    if p.name is not None:
        lines.append(f"NAME{sep}{p.name}")
    return lines
