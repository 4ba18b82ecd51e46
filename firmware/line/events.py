"""Typed line events: what the modem tells us, after parsing. One base class, frozen dataclasses.

Fields that take a fixed set of values are ``Literal`` types (mypy checks every producer); the values
are the strings the events always carried, so logs and JSON output are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from roamline.firmware.callerid.codec import CallerId
from roamline.firmware.line.calls import CallState

CallerIdSource = Literal["formatted", "mdmf", "sdmf"]
"""Where a caller ID came from: the modem's formatted lines (+VCID=1), or raw MDMF / SDMF (+VCID=2)."""

ResultName = Literal["OK", "CONNECT", "ERROR", "NO CARRIER", "NO DIALTONE", "BUSY", "NO ANSWER", "VCON"]
"""A V.253 final result code in verbose spelling (numeric codes and ``NO DIAL TONE`` are mapped to it)."""

OpName = Literal["identify", "init", "answer", "dial", "flash", "hangup", "probe", "stream", "transmit",
                 "receive"]
"""The session's multi-command operations (``stream`` restarts the voice stream after a refused flash;
``transmit`` / ``receive`` turn a half-duplex call's stream to +VTX / +VRX)."""

HangupSignal = Literal["loop-current-loss", "busy-tone", "dial-tone", "no-carrier"]
"""What told us the far end hung up while a call was up (silence alone is not a hang-up)."""

EndReason = Literal["local-hangup", "loop-current-loss", "busy-tone", "dial-tone", "no-carrier", "busy",
                    "no-answer", "no-dialtone", "error", "timeout"]
"""Why the session put the line on hook: ours, a hang-up signal, or how a call attempt failed."""

AbandonedBy = Literal["LOCAL HANGUP", "LOOP CURRENT LOSS", "BUSY TONE", "DIAL TONE", "NO CARRIER", "BUSY",
                      "NO ANSWER", "NO DIALTONE", "ERROR", "TIMEOUT"]
"""An operation's result when a hang-up abandoned it: the EndReason, upper-case, spaces for dashes."""

OpResult = ResultName | Literal["TIMEOUT", "MODEM-LOST"] | AbandonedBy
"""How an operation ended: the failing (or last) command's result, a timeout, the modem gone, or why a
hang-up abandoned it."""

VoiceMode = Literal["rx", "tx", "duplex"]
"""The modem's voice stream: receive (+VRX), transmit (+VTX) or both (+VTR)."""


@dataclass(frozen=True, slots=True)
class LineEvent:
    """Base of every event the phone-line cores emit."""


@dataclass(frozen=True, slots=True)
class Ring(LineEvent):
    count: int  # rings of this call so far (1 for the first)


@dataclass(frozen=True, slots=True)
class CallerIdReceived(LineEvent):
    """One assembled caller-ID message, in the firmware's one caller-ID type."""

    caller_id: CallerId
    source: CallerIdSource = "formatted"  # +VCID=1 records, or +VCID=2 hex

    def as_json(self) -> dict[str, str | None]:
        c, when = self.caller_id, self.caller_id.when
        return {"number": c.number, "name": c.name, "date": when.date if when else None,
                "time": when.time if when else None}


@dataclass(frozen=True, slots=True)
class BadCallerId(LineEvent):
    """Caller-ID data arrived but was unusable (bad checksum, bad framing): reported, never raised."""

    reason: str


@dataclass(frozen=True, slots=True)
class DtmfDigit(LineEvent):
    digit: str


@dataclass(frozen=True, slots=True)
class Busy(LineEvent):
    pass


@dataclass(frozen=True, slots=True)
class DialTone(LineEvent):
    pass


@dataclass(frozen=True, slots=True)
class Ringback(LineEvent):
    pass


@dataclass(frozen=True, slots=True)
class Silence(LineEvent):
    pass


@dataclass(frozen=True, slots=True)
class Quiet(LineEvent):
    pass


@dataclass(frozen=True, slots=True)
class LoopCurrentLoss(LineEvent):
    pass


@dataclass(frozen=True, slots=True)
class CallWaiting(LineEvent):
    pass


@dataclass(frozen=True, slots=True)
class FaxTone(LineEvent):
    pass


@dataclass(frozen=True, slots=True)
class TxUnderrun(LineEvent):
    """The modem ran out of voice data to send (we fed it too slowly)."""


@dataclass(frozen=True, slots=True)
class OtherTone(LineEvent):
    """A DLE event we know nothing specific about (kept, so nothing is silently lost)."""

    code: str


@dataclass(frozen=True, slots=True)
class EndOfStream(LineEvent):
    pass


@dataclass(frozen=True, slots=True)
class VoiceData(LineEvent):
    data: bytes


@dataclass(frozen=True, slots=True)
class ResultCode(LineEvent):
    """A final result code (OK, CONNECT, ERROR, ...) in verbose spelling, with any text after it."""

    code: ResultName
    text: str = ""


@dataclass(frozen=True, slots=True)
class CommandDone(LineEvent):
    command: str
    result: ResultName
    lines: tuple[str, ...] = ()  # information lines before the result

    @property
    def ok(self) -> bool:
        return self.result in ("OK", "CONNECT", "VCON")


@dataclass(frozen=True, slots=True)
class CommandTimedOut(LineEvent):
    command: str


@dataclass(frozen=True, slots=True)
class Noise(LineEvent):
    """Bytes we could not make sense of between result codes (dropped, counted)."""

    text: str


@dataclass(frozen=True, slots=True)
class FarEndHangup(LineEvent):
    reason: HangupSignal


@dataclass(frozen=True, slots=True)
class AnswerInferred(LineEvent):
    """An outgoing call seems answered (ringback stopped, voice appeared); the time is an inference."""

    at: float


@dataclass(frozen=True, slots=True)
class CallEnded(LineEvent):
    reason: str
    """An EndReason, ``caller-gave-up`` (rang, never answered), or ``modem-lost: <why>`` (free text)."""


@dataclass(frozen=True, slots=True)
class ModemReset(LineEvent):
    reason: str


@dataclass(frozen=True, slots=True)
class ModemPowerCycled(LineEvent):
    pass


@dataclass(frozen=True, slots=True)
class ModemLost(LineEvent):
    reason: str


@dataclass(frozen=True, slots=True)
class ModemFound(LineEvent):
    """The modem answers again after a ModemLost: re-found (replugged) or brought back by a reset."""

    device: str


@dataclass(frozen=True, slots=True)
class OpDone(LineEvent):
    """A multi-command operation of the session finished (``ok``) or stopped at a failing command."""

    op: OpName
    ok: bool
    result: OpResult = "OK"
    lines: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StateChanged(LineEvent):
    state: CallState
