"""Caller-ID and message-waiting messages: on-hook data from the exchange and to the handset (bytes only).

Layout of every message: type (1 byte), length L (1 byte), L bytes of body, checksum (1 byte) chosen so
that all bytes including the checksum sum to 0 mod 256 (Telcordia GR-30-CORE; ETSI EN 300 659-3;
BT SIN 227 use the same data link framing).

Formats:

- ``SDMF`` (Bell/Telcordia single data message format): type 0x04 call, body = 8 ASCII digits MMDDHHMM +
  the number, or a single ``P`` (private) / ``O`` (out of area, unavailable); type 0x06 message waiting,
  body 3 bytes 0x42 0x42 0x42 (on) or 0x6F 0x6F 0x6F (off).
- ``MDMF`` (Bell multiple data message format): type 0x80 call setup, parameters (type, length, value):
  0x01 date/time MMDDHHMM, 0x02 number (0x03 the dialable directory number, read as the number when 0x02
  is absent), 0x04 reason number absent (``P``/``O``), 0x07 name, 0x08 reason
  name absent; type 0x82 message waiting with 0x0B visual indicator (0xFF on, 0x00 off).
- ``ETSI`` (ETS/EN 300 659-3, also the UK BT SIN 227 and German variants): the MDMF layout and codes above,
  plus 0x11 call type (0x01 voice, 0x81 message waiting call …) and, in 0x82, 0x13 number of messages.

:func:`encode` / :func:`decode` work on one whole message; :class:`Framer` cuts whole messages out of a
byte stream fed in pieces of any size (the FSK receiver's characters).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from roamline.firmware.callerid.errors import CallerIdError as CallerIdError
from roamline.firmware.callerid.errors import CallerIdUsageError as CallerIdUsageError

SDMF_CALL, SDMF_MWI, MDMF_CALL, MDMF_MWI = 0x04, 0x06, 0x80, 0x82
P_DATETIME, P_NUMBER, P_DDN, P_NUMBER_ABSENT, P_NAME, P_NAME_ABSENT = 0x01, 0x02, 0x03, 0x04, 0x07, 0x08
P_VISUAL_INDICATOR, P_CALL_TYPE, P_MESSAGE_COUNT = 0x0B, 0x11, 0x13
MESSAGE_TYPES = frozenset({SDMF_CALL, SDMF_MWI, MDMF_CALL, MDMF_MWI})
_SDMF_MWI_ON, _SDMF_MWI_OFF = b"\x42\x42\x42", b"\x6f\x6f\x6f"
MAX_NUMBER, MAX_NAME = 20, 20  # display limits: 20 digits (ETSI), names up to 15–20 characters shown

Status = Literal["ok", "private", "unavailable", "absent"]


class Format(enum.StrEnum):
    SDMF = "sdmf"
    MDMF = "mdmf"
    ETSI = "etsi"


class Absence(enum.StrEnum):
    """Why a number or name is not given (the byte sent is the value)."""

    PRIVATE = "P"      # withheld by the caller
    UNAVAILABLE = "O"  # out of area / not available from the network


@dataclass(frozen=True, slots=True)
class Stamp:
    """Date and time of the call as the network sends it (no year, no seconds)."""

    month: int
    day: int
    hour: int
    minute: int

    def __post_init__(self) -> None:
        if not (1 <= self.month <= 12 and 1 <= self.day <= 31 and 0 <= self.hour <= 23
                and 0 <= self.minute <= 59):
            when = f"{self.month:02}-{self.day:02} {self.hour:02}:{self.minute:02}"
            raise CallerIdUsageError(f"not a date/time: {when}")

    @classmethod
    def from_datetime(cls, when: datetime) -> Stamp:
        return cls(when.month, when.day, when.hour, when.minute)

    @classmethod
    def from_text(cls, date: str | None, time: str | None) -> Stamp | None:
        """MMDD and HHMM as a modem prints them; None unless both are there and make a date/time."""
        if date is None or time is None:
            return None
        try:
            return cls.decode((date + time).encode("ascii"))
        except (UnicodeEncodeError, CallerIdError):
            return None

    @property
    def date(self) -> str:
        """MMDD."""
        return f"{self.month:02}{self.day:02}"

    @property
    def time(self) -> str:
        """HHMM."""
        return f"{self.hour:02}{self.minute:02}"

    def encode(self) -> bytes:
        return f"{self.month:02}{self.day:02}{self.hour:02}{self.minute:02}".encode("ascii")

    @classmethod
    def decode(cls, raw: bytes) -> Stamp:
        if len(raw) != 8 or not raw.isdigit():
            raise CallerIdError(f"date/time must be 8 ASCII digits, got {raw!r}")
        try:
            return cls(int(raw[0:2]), int(raw[2:4]), int(raw[4:6]), int(raw[6:8]))
        except CallerIdUsageError as exc:
            raise CallerIdError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class CallerId:
    """Who is calling. ``number`` and ``number_absent`` are exclusive; so are ``name`` and ``name_absent``.

    ``None`` with no reason means the field was not sent at all. The one caller-ID type of the firmware:
    the line driver reports it, the handset controller sends it, the FSK modem carries it.
    """

    number: str | None = None
    name: str | None = None
    when: Stamp | None = None
    number_absent: Absence | None = None
    name_absent: Absence | None = None
    call_type: int | None = None  # ETSI only

    def __post_init__(self) -> None:
        if self.number is not None and self.number_absent is not None:
            raise CallerIdUsageError("a number and a reason for its absence are exclusive")
        if self.name is not None and self.name_absent is not None:
            raise CallerIdUsageError("a name and a reason for its absence are exclusive")

    @property
    def number_status(self) -> Status:
        return _status(self.number, self.number_absent)

    @property
    def name_status(self) -> Status:
        return _status(self.name, self.name_absent)


def _status(value: str | None, absent: Absence | None) -> Status:
    if value is not None:
        return "ok"
    if absent is Absence.PRIVATE:
        return "private"
    return "unavailable" if absent is Absence.UNAVAILABLE else "absent"


@dataclass(frozen=True, slots=True)
class MessageWaiting:
    """Visual message-waiting indicator on or off; ``count`` (ETSI only) is the number of messages."""

    active: bool
    count: int | None = None


Message = CallerId | MessageWaiting


def checksum(data: bytes) -> int:
    """The byte that makes ``data`` plus itself sum to 0 mod 256."""
    return -sum(data) & 0xFF


def frame(msg_type: int, body: bytes) -> bytes:
    if len(body) > 255:
        raise CallerIdUsageError(f"caller-ID message body too long ({len(body)} bytes)")
    head = bytes([msg_type, len(body)]) + body
    return head + bytes([checksum(head)])


def _text(value: str, limit: int, what: str) -> bytes:
    raw = value.encode("ascii", errors="strict") if value.isascii() else b""
    if not raw or len(raw) > limit or not all(0x20 <= b < 0x7F for b in raw):
        raise CallerIdUsageError(f"{what} must be 1–{limit} printable ASCII characters, got {value!r}")
    return raw


def _param(code: int, value: bytes) -> bytes:
    return bytes([code, len(value)]) + value


def encode(msg: Message, fmt: Format) -> bytes:
    """The complete message (type … checksum) in ``fmt``; raises UsageError if ``fmt`` cannot carry it."""
    if isinstance(msg, MessageWaiting):
        if fmt is Format.SDMF:
            if msg.count is not None:
                raise CallerIdUsageError("SDMF message waiting carries no message count")
            return frame(SDMF_MWI, _SDMF_MWI_ON if msg.active else _SDMF_MWI_OFF)
        body = _param(P_VISUAL_INDICATOR, b"\xff" if msg.active else b"\x00")
        if msg.count is not None:
            if fmt is not Format.ETSI or not 0 <= msg.count <= 255:
                raise CallerIdUsageError("a message count needs the ETSI format and 0..255")
            body += _param(P_MESSAGE_COUNT, bytes([msg.count]))
        return frame(MDMF_MWI, body)
    if fmt is Format.SDMF:
        if msg.name is not None or msg.name_absent is not None or msg.call_type is not None:
            raise CallerIdUsageError("SDMF carries only date/time and number")
        if msg.when is None:
            raise CallerIdUsageError("SDMF needs the date/time")
        who = msg.number_absent.value.encode() if msg.number_absent else None
        if msg.number is not None:
            who = _digits(msg.number, 10)
        if who is None:
            raise CallerIdUsageError("SDMF needs a number or a reason for its absence")
        return frame(SDMF_CALL, msg.when.encode() + who)
    body = b""
    if msg.when is not None:
        body += _param(P_DATETIME, msg.when.encode())
    if msg.number is not None:
        body += _param(P_NUMBER, _digits(msg.number, MAX_NUMBER))
    if msg.number_absent is not None:
        body += _param(P_NUMBER_ABSENT, msg.number_absent.value.encode())
    if msg.name is not None:
        body += _param(P_NAME, _text(msg.name, MAX_NAME, "name"))
    if msg.name_absent is not None:
        body += _param(P_NAME_ABSENT, msg.name_absent.value.encode())
    if msg.call_type is not None:
        if fmt is not Format.ETSI or not 0 <= msg.call_type <= 255:
            raise CallerIdUsageError("a call type needs the ETSI format and 0..255")
        body += _param(P_CALL_TYPE, bytes([msg.call_type]))
    if not body:
        raise CallerIdUsageError("an empty caller-ID message")
    return frame(MDMF_CALL, body)


def _digits(number: str, limit: int) -> bytes:
    raw = _text(number, limit, "number")
    if not all(chr(b) in "0123456789*#+" for b in raw):
        raise CallerIdUsageError(f"number must be digits (and * # +), got {number!r}")
    return raw


def unframe(data: bytes) -> tuple[int, bytes]:
    """(type, body) of one complete message; strict about length and checksum."""
    if len(data) < 3:
        raise CallerIdError(f"caller-ID message too short ({len(data)} bytes)")
    msg_type, length = data[0], data[1]
    if msg_type not in MESSAGE_TYPES:
        raise CallerIdError(f"unknown caller-ID message type 0x{msg_type:02x}")
    if len(data) != length + 3:
        raise CallerIdError(f"length byte says {length} but {len(data) - 3} body bytes follow")
    if sum(data) & 0xFF:
        raise CallerIdError(f"checksum mismatch (sum 0x{sum(data) & 0xFF:02x})")
    return msg_type, data[2:-1]


def _absence(raw: bytes) -> Absence:
    try:
        return Absence(raw.decode("ascii"))
    except ValueError:  # UnicodeDecodeError included
        raise CallerIdError(f"reason for absence must be P or O, got {raw!r}") from None


def _ascii(raw: bytes, what: str) -> str:
    if not raw or not all(0x20 <= b < 0x7F for b in raw):
        raise CallerIdError(f"{what} is not printable ASCII: {raw!r}")
    return raw.decode("ascii")


def _params(body: bytes) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    i = 0
    while i < len(body):
        if i + 2 > len(body) or i + 2 + body[i + 1] > len(body):
            raise CallerIdError(f"parameter at offset {i} runs past the message")
        code, n = body[i], body[i + 1]
        if code in out:
            raise CallerIdError(f"parameter 0x{code:02x} given twice")
        out[code] = body[i + 2:i + 2 + n]
        i += 2 + n
    return out


def decode(data: bytes) -> Message:
    """Parse one complete message (any format). Unknown MDMF parameters are skipped, as displays do."""
    msg_type, body = unframe(data)
    if msg_type == SDMF_MWI:
        if body not in (_SDMF_MWI_ON, _SDMF_MWI_OFF):
            raise CallerIdError(f"SDMF message-waiting body must be 0x42×3 or 0x6f×3, got {body!r}")
        return MessageWaiting(body == _SDMF_MWI_ON)
    if msg_type == SDMF_CALL:
        if len(body) < 9:
            raise CallerIdError("SDMF call message shorter than date/time plus one character")
        when, who = Stamp.decode(body[:8]), body[8:]
        if who in (b"P", b"O"):
            return CallerId(when=when, number_absent=_absence(who))
        return CallerId(when=when, number=_ascii(who, "number"))
    params = _params(body)
    if msg_type == MDMF_MWI:
        vi = params.get(P_VISUAL_INDICATOR)
        if vi is None or len(vi) != 1 or vi[0] not in (0x00, 0xFF):
            raise CallerIdError(f"visual indicator must be one byte 0x00 or 0xff, got {vi!r}")
        count = params.get(P_MESSAGE_COUNT)
        if count is not None and len(count) != 1:
            raise CallerIdError("message count must be one byte")
        return MessageWaiting(vi[0] == 0xFF, count[0] if count else None)
    number = params.get(P_NUMBER, params.get(P_DDN))
    single = {P_NUMBER_ABSENT, P_NAME_ABSENT, P_CALL_TYPE}
    for code in single & params.keys():
        if len(params[code]) != 1:
            raise CallerIdError(f"parameter 0x{code:02x} must be one byte")
    try:
        return CallerId(
            when=Stamp.decode(params[P_DATETIME]) if P_DATETIME in params else None,
            number=_ascii(number, "number") if number is not None else None,
            number_absent=_absence(params[P_NUMBER_ABSENT]) if P_NUMBER_ABSENT in params else None,
            name=_ascii(params[P_NAME], "name") if P_NAME in params else None,
            name_absent=_absence(params[P_NAME_ABSENT]) if P_NAME_ABSENT in params else None,
            call_type=params[P_CALL_TYPE][0] if P_CALL_TYPE in params else None,
        )
    except CallerIdUsageError as exc:  # both a field and the reason for its absence
        raise CallerIdError(str(exc)) from None


class Framer:
    """Whole messages out of a byte stream: a type byte, a length byte, that many body bytes and the
    checksum. Bytes may come in pieces of any size; :meth:`push` takes one at a time. A byte that cannot
    start a message raises CallerIdError (the stream is not caller ID, or it lost sync)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    @property
    def pending(self) -> bytes:
        """The bytes of the message begun and not yet complete."""
        return bytes(self._buf)

    def reset(self) -> None:
        self._buf.clear()

    def push(self, byte: int) -> bytes | None:
        """Add one byte; the complete message (type … checksum) when this byte ends one, else None."""
        if not self._buf and byte not in MESSAGE_TYPES:
            raise CallerIdError(f"unknown message type 0x{byte:02x}")
        self._buf.append(byte)
        if len(self._buf) >= 2 and len(self._buf) == self._buf[1] + 3:
            raw = bytes(self._buf)
            self._buf.clear()
            return raw
        return None

    def feed(self, data: bytes) -> list[bytes]:
        """Every message ``data`` completes, in order."""
        out = []
        for byte in data:
            raw = self.push(byte)
            if raw is not None:
                out.append(raw)
        return out
