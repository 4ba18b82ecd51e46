"""Voicemail on the link: the registry asks a host line to take a message, the host delivers it in chunks.

``voicemail.take`` (registry → host box, a request answered ``ok`` or ``error``): nobody answered the
holder's number within their voicemail timeout, the holder's card is in no box, or their filters send the
caller to voicemail. The host answers its line, plays the greeting and a beep, records µ-law until the
caller hangs up, stays silent, or the message reaches ``max_s``.

The recording goes through the box's durable outbox as ``deliver`` items of kind ``voicemail.chunk``
(docs/protocol.md §14): each :class:`Chunk` holds at most :data:`MAX_CHUNK_AUDIO` bytes of µ-law (4 s),
so a ``deliver`` frame with its base64 stays well under the 64 KiB frame limit; the last chunk carries
the message's :class:`Meta`. Keys are ``voicemail.chunk:MESSAGE:SEQ``: a re-sent chunk is stored once.

:func:`parse_chunk` takes a ``deliver`` payload and raises only :class:`VoicemailError` (a
:class:`~roamline.wire.errors.BadBody`) with a one-line reason; ``parse_chunk(c.to_json()) == c``.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, ClassVar

import msgspec

from roamline.wire.calls import CALL_ID_PATTERN, DIALLED_PATTERN, E164, E164_PATTERN, CallId
from roamline.wire.errors import BadBody
from roamline.wire.messages import B64Bytes, Kind, Message, Sender, register_message

VOICEMAIL_CHUNK_KIND = "voicemail.chunk"
"""``deliver`` kind of one piece of a recorded message (key ``voicemail.chunk:MESSAGE:SEQ``)."""

RATE = 8000  # µ-law (PCMU) at 8 kHz: one byte a sample
MAX_CHUNK_AUDIO = 32_000  # 4 s: 42 668 base64 characters, a deliver frame stays under 45 KiB
MAX_MESSAGE_S = (10.0, 300.0)  # the longest message a take may ask for (bounds of max_s)
MAX_CHUNKS = int(MAX_MESSAGE_S[1] * RATE) // MAX_CHUNK_AUDIO + 1  # 76
DEFAULT_MAX_S = 120.0
OFFLINE_PREFIX = "vo-"
"""A message id a host box made itself (its link was down when its own line rang; no ``voicemail.take``):
the registry files it for the line's owner when its chunks arrive (docs/protocol.md §14)."""
SILENCE_S = (2.0, 60.0)
DEFAULT_SILENCE_S = 8.0
END_REASONS = ("hangup", "silence", "max-length", "line-lost", "cancelled")
_ID_RE = re.compile(CALL_ID_PATTERN)
_E164_RE = re.compile(E164_PATTERN)
_DIALLED_RE = re.compile(DIALLED_PATTERN)
_GREETING_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class VoicemailError(BadBody):
    """A chunk (or its meta) that does not parse; the message says which field and why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class VoicemailTake(Message):
    """Registry → host: answer the ringing call ``call_id`` on your line and record a message for the
    holder of ``number`` (``message_id`` names it in the chunks). ``greeting``: the holder's greeting id
    (``default``: the host speaks one naming ``number``)."""

    TYPE: ClassVar[str] = "voicemail.take"
    KIND: ClassVar[Kind] = "request"
    SENDER: ClassVar[Sender] = "cloud"
    call_id: CallId
    message_id: CallId
    number: E164
    greeting: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")] = "default"
    max_s: Annotated[float, msgspec.Meta(ge=MAX_MESSAGE_S[0], le=MAX_MESSAGE_S[1])] = DEFAULT_MAX_S
    silence_s: Annotated[float, msgspec.Meta(ge=SILENCE_S[0], le=SILENCE_S[1])] = DEFAULT_SILENCE_S


# --- the holder's mailbox at the box where their card is (``*98``) -------------------------------------

CardIdField = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{32}\Z")]
MAX_LISTED = 100


class MarkAction(StrEnum):
    SAVE = "save"  # kept, no longer waiting
    DELETE = "delete"


@dataclass(frozen=True, slots=True, kw_only=True)
class ListedMessage:
    message_id: CallId
    state: Annotated[str, msgspec.Meta(pattern=r"^(new|saved)\Z")]
    caller: Annotated[str, msgspec.Meta(pattern=DIALLED_PATTERN)] | None = None
    caller_name: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    started_at: Annotated[float, msgspec.Meta(ge=0, le=1e11)] = 0.0
    duration_s: Annotated[float, msgspec.Meta(ge=0, le=MAX_MESSAGE_S[1] + 1)] = 0.0
    audio_bytes: Annotated[int, msgspec.Meta(ge=0, le=MAX_CHUNKS * MAX_CHUNK_AUDIO)] = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class VoicemailList(Message):
    """Box → registry: the messages of the holder of ``card_id`` (registered at this box)."""

    TYPE: ClassVar[str] = "voicemail.list"
    KIND: ClassVar[Kind] = "request"
    SENDER: ClassVar[Sender] = "box"
    card_id: CardIdField


@dataclass(frozen=True, slots=True, kw_only=True)
class VoicemailListed(Message):
    """Reply to ``voicemail.list``: new messages first, then saved, each oldest first (≤ 100)."""

    TYPE: ClassVar[str] = "voicemail.listed"
    KIND: ClassVar[Kind] = "reply"
    SENDER: ClassVar[Sender] = "cloud"
    card_id: CardIdField
    messages: Annotated[tuple[ListedMessage, ...], msgspec.Meta(max_length=MAX_LISTED)] = ()
    pin_required: bool = False  # the holder set a PIN not yet entered here: nothing listed, ask for it


class PinResult(StrEnum):
    OK = "ok"  # the mailbox is open for this registration at this box
    WRONG = "wrong"
    LOCKED = "locked"  # too many wrong PINs in a row for this account: refused, right or wrong, for a while


PIN_PATTERN = r"^[0-9]{4,8}\Z"


@dataclass(frozen=True, slots=True, kw_only=True)
class VoicemailPin(Message):
    """Box → registry: the PIN the holder of ``card_id`` keyed at ``*98`` (the registry keeps only its
    hash and checks it; boxes never get the hash). Answered ``voicemail.pin-checked``."""

    TYPE: ClassVar[str] = "voicemail.pin"
    KIND: ClassVar[Kind] = "request"
    SENDER: ClassVar[Sender] = "box"
    card_id: CardIdField
    pin: Annotated[str, msgspec.Meta(pattern=PIN_PATTERN)]

    def __repr__(self) -> str:  # never in a log
        return f"VoicemailPin(card_id={self.card_id!r}, pin='****')"


@dataclass(frozen=True, slots=True, kw_only=True)
class VoicemailPinChecked(Message):
    """Reply to ``voicemail.pin``; ``ok``: the mailbox is open to this registration of the card."""

    TYPE: ClassVar[str] = "voicemail.pin-checked"
    KIND: ClassVar[Kind] = "reply"
    SENDER: ClassVar[Sender] = "cloud"
    card_id: CardIdField
    result: PinResult


@dataclass(frozen=True, slots=True, kw_only=True)
class VoicemailFetch(Message):
    """Box → registry: piece ``seq`` (of ≤ 32 000 bytes) of one of the holder's messages."""

    TYPE: ClassVar[str] = "voicemail.fetch"
    KIND: ClassVar[Kind] = "request"
    SENDER: ClassVar[Sender] = "box"
    card_id: CardIdField
    message_id: CallId
    seq: Annotated[int, msgspec.Meta(ge=0, lt=MAX_CHUNKS)] = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class VoicemailAudio(Message):
    """Reply to ``voicemail.fetch``: µ-law 8 kHz; ``last`` on the message's last piece."""

    TYPE: ClassVar[str] = "voicemail.audio"
    KIND: ClassVar[Kind] = "reply"
    SENDER: ClassVar[Sender] = "cloud"
    message_id: CallId
    seq: Annotated[int, msgspec.Meta(ge=0, lt=MAX_CHUNKS)]
    last: bool
    audio: Annotated[B64Bytes, msgspec.Meta(max_length=MAX_CHUNK_AUDIO)]


@dataclass(frozen=True, slots=True, kw_only=True)
class VoicemailMark(Message):
    """Box → registry: the holder saved or deleted a message (answered ``ok``)."""

    TYPE: ClassVar[str] = "voicemail.mark"
    KIND: ClassVar[Kind] = "request"
    SENDER: ClassVar[Sender] = "box"
    card_id: CardIdField
    message_id: CallId
    action: MarkAction


GREETING_PATTERN = r"^g-[0-9a-f]{16}\Z"  # a greeting the holder recorded (``default``: the spoken one)
MAX_GREETING_S = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class VoicemailGreeting(Message):
    """Box → registry: piece ``seq`` of a greeting the holder of ``card_id`` recorded at the handset
    (µ-law, ≤ 32 000 bytes a piece, ≤ 60 s); after the ``last`` piece it becomes their greeting."""

    TYPE: ClassVar[str] = "voicemail.greeting"
    KIND: ClassVar[Kind] = "request"
    SENDER: ClassVar[Sender] = "box"
    card_id: CardIdField
    greeting_id: Annotated[str, msgspec.Meta(pattern=GREETING_PATTERN)]
    seq: Annotated[int, msgspec.Meta(ge=0, lt=int(MAX_GREETING_S * RATE) // MAX_CHUNK_AUDIO + 1)]
    last: bool
    audio: Annotated[B64Bytes, msgspec.Meta(max_length=MAX_CHUNK_AUDIO)]


@dataclass(frozen=True, slots=True, kw_only=True)
class VoicemailGreetingFetch(Message):
    """Host box → registry: piece ``seq`` of the greeting of the holder message ``message_id`` (asked of
    this box by ``voicemail.take``) is for; answered ``voicemail.audio`` (``message_id`` = this one)."""

    TYPE: ClassVar[str] = "voicemail.greeting-fetch"
    KIND: ClassVar[Kind] = "request"
    SENDER: ClassVar[Sender] = "box"
    message_id: CallId
    seq: Annotated[int, msgspec.Meta(ge=0, lt=MAX_CHUNKS)] = 0


VOICEMAIL_MESSAGES: tuple[type[Message], ...] = (VoicemailTake, VoicemailList, VoicemailListed,
                                                 VoicemailFetch, VoicemailAudio, VoicemailMark,
                                                 VoicemailGreeting, VoicemailGreetingFetch, VoicemailPin,
                                                 VoicemailPinChecked)
for _cls in VOICEMAIL_MESSAGES:
    register_message(_cls)


@dataclass(frozen=True, slots=True)
class Meta:
    """What the host knows of the message, sent with its last chunk. Times are Unix seconds."""

    call_id: str
    number: str  # the holder's number the message is for
    caller: str | None  # the caller's number as the line gave it (None: withheld or unavailable)
    caller_name: str | None
    started_at: float  # the recording began (after the beep)
    ended_at: float
    duration_s: float
    ended: str  # one of END_REASONS

    def to_json(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "number": self.number, "caller": self.caller,
                "caller_name": self.caller_name, "started_at": self.started_at, "ended_at": self.ended_at,
                "duration_s": self.duration_s, "ended": self.ended}


@dataclass(frozen=True, slots=True)
class Chunk:
    message_id: str
    seq: int  # 0, 1, … in order
    last: bool
    audio: bytes  # µ-law, at most MAX_CHUNK_AUDIO bytes (the last may be empty: a silent message)
    meta: Meta | None = None  # on the last chunk only

    @property
    def key(self) -> str:
        return chunk_key(self.message_id, self.seq)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message_id": self.message_id, "seq": self.seq, "last": self.last,
                               "audio": base64.b64encode(self.audio).decode("ascii")}
        if self.meta is not None:
            out["meta"] = self.meta.to_json()
        return out


def chunk_key(message_id: str, seq: int) -> str:
    return f"{VOICEMAIL_CHUNK_KIND}:{message_id}:{seq}"


def split(message_id: str, audio: bytes, meta: Meta) -> list[Chunk]:
    """The chunks of one recorded message (at least one: the last carries ``meta``)."""
    if _ID_RE.fullmatch(message_id) is None:
        raise VoicemailError(f"message_id: not an id: {message_id[:80]!r}")
    audio = audio[: MAX_CHUNKS * MAX_CHUNK_AUDIO]
    parts = [audio[i:i + MAX_CHUNK_AUDIO] for i in range(0, len(audio), MAX_CHUNK_AUDIO)] or [b""]
    n = len(parts)
    return [Chunk(message_id, i, i == n - 1, part, meta if i == n - 1 else None)
            for i, part in enumerate(parts)]


def assemble(chunks: list[Chunk]) -> bytes:
    """The message's audio from all its chunks (any order); VoicemailError unless they are exactly
    seq 0 … n−1 of one message with the last one last."""
    if not chunks:
        raise VoicemailError("no chunks")
    ordered = sorted(chunks, key=lambda c: c.seq)
    if len({c.message_id for c in ordered}) != 1:
        raise VoicemailError("chunks of more than one message")
    if [c.seq for c in ordered] != list(range(len(ordered))):
        raise VoicemailError("chunks missing or repeated")
    if not ordered[-1].last or any(c.last for c in ordered[:-1]):
        raise VoicemailError("the last chunk is not the last")
    return b"".join(c.audio for c in ordered)


# --- the strict parser -------------------------------------------------------------------------------


def _obj(x: object, where: str, allowed: set[str], required: set[str]) -> dict[str, Any]:
    if not isinstance(x, dict):
        raise VoicemailError(f"{where}: must be an object")
    unknown = sorted(str(k)[:40] for k in x if k not in allowed)
    if unknown:
        raise VoicemailError(f"{where}: unknown field {unknown[0]!r}")
    missing = sorted(required - set(x))
    if missing:
        raise VoicemailError(f"{where}: {missing[0]} is missing")
    return x


def _time(x: object, where: str) -> float:
    if type(x) not in (int, float) or not 0.0 <= float(x) <= 1e11:  # type: ignore[arg-type]
        raise VoicemailError(f"{where}: must be seconds from 0 to 1e11")
    return float(x)  # type: ignore[arg-type]


def _text(x: object, where: str, most: int, pattern: re.Pattern[str] | None = None) -> str:
    if not isinstance(x, str) or not 0 < len(x) <= most or not x.isprintable():
        raise VoicemailError(f"{where}: must be printable text of 1–{most} characters")
    if pattern is not None and pattern.fullmatch(x) is None:
        raise VoicemailError(f"{where}: not a valid value")
    return x


def _meta(x: object) -> Meta:
    o = _obj(x, "meta", {"call_id", "number", "caller", "caller_name", "started_at", "ended_at",
                         "duration_s", "ended"},
             {"call_id", "number", "started_at", "ended_at", "duration_s", "ended"})
    caller = o.get("caller")
    name = o.get("caller_name")
    started, ended_at = _time(o["started_at"], "meta.started_at"), _time(o["ended_at"], "meta.ended_at")
    if ended_at < started:
        raise VoicemailError("meta.ended_at: before started_at")
    duration = o["duration_s"]
    if type(duration) not in (int, float) or not 0.0 <= float(duration) <= MAX_MESSAGE_S[1] + 1:
        raise VoicemailError(f"meta.duration_s: must be seconds from 0 to {MAX_MESSAGE_S[1] + 1:g}")
    if o["ended"] not in END_REASONS:
        raise VoicemailError(f"meta.ended: one of {', '.join(END_REASONS)}")
    return Meta(
        call_id=_text(o["call_id"], "meta.call_id", 64, _ID_RE),
        number=_text(o["number"], "meta.number", 16, _E164_RE),
        caller=None if caller is None else _text(caller, "meta.caller", 32, _DIALLED_RE),
        caller_name=None if name is None else _text(name, "meta.caller_name", 64),
        started_at=started, ended_at=ended_at, duration_s=float(duration), ended=str(o["ended"]),
    )


def parse_chunk(obj: object) -> Chunk:
    """A ``voicemail.chunk`` deliver payload → Chunk; VoicemailError with a one-line reason."""
    o = _obj(obj, "chunk", {"message_id", "seq", "last", "audio", "meta"}, {"message_id", "seq", "last",
                                                                          "audio"})
    message_id = _text(o["message_id"], "message_id", 64, _ID_RE)
    seq = o["seq"]
    if type(seq) is not int or not 0 <= seq < MAX_CHUNKS:
        raise VoicemailError(f"seq: must be an integer from 0 to {MAX_CHUNKS - 1}")
    last = o["last"]
    if type(last) is not bool:
        raise VoicemailError("last: must be true or false")
    text = o["audio"]
    if not isinstance(text, str) or len(text) > 4 * ((MAX_CHUNK_AUDIO + 2) // 3):
        raise VoicemailError(f"audio: must be base64 of at most {MAX_CHUNK_AUDIO} bytes")
    try:
        audio = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise VoicemailError("audio: not standard base64") from None
    if len(audio) > MAX_CHUNK_AUDIO:
        raise VoicemailError(f"audio: more than {MAX_CHUNK_AUDIO} bytes")
    if not last and not audio:
        raise VoicemailError("audio: only the last chunk may be empty")
    meta = _meta(o["meta"]) if "meta" in o else None
    if last != (meta is not None):
        raise VoicemailError("meta: comes with the last chunk, and only with it")
    return Chunk(message_id, seq, last, audio, meta)


__all__ = [
    "MAX_CHUNKS",
    "MAX_CHUNK_AUDIO",
    "VOICEMAIL_CHUNK_KIND",
    "Chunk",
    "Meta",
    "VoicemailError",
    "VoicemailTake",
    "assemble",
    "chunk_key",
    "parse_chunk",
    "split",
]
