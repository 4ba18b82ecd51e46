"""Call signalling and host line control on the link (docs/protocol.md §10).

Frozen message classes registered with :func:`roamline.wire.messages.register_message`, like the
registration messages. Every call has one ``call_id`` for its whole life, known to every party: the box
that starts a call names it (``line.ring`` from a host line, ``call.place`` from a terminal), with at
least 64 random bits. Each leg of a call that carries media gets a ``flow_id`` from the cloud (a QUIC
varint on every media datagram, see :mod:`roamline.wire.media`).

``SENDER`` says which end may send a message: a link refuses a request or push that comes from the
wrong end with ``forbidden`` (see :class:`roamline.wire.link.LinkConnection`).

Shape of a call (DESIGN §6.2, §6.3): before answer, an offered call ends at a terminal with
``call.cancel`` and a placed call's outcome comes back as ``call.progress``; once answered, either side
ends it with ``call.hangup`` (the cloud also sends ``line.hangup`` to a host line).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from msgspec import Meta

from roamline.wire.messages import Kind, Message, Sender, register_message

CALL_RECORD_KIND = "call-record"
"""``deliver`` kind of a box's report about one call (docs/protocol.md §10.5).

Key ``call-record:CALL:BOX:SIDE``; ``side`` is ``terminal`` (the handset's view) or ``host`` (the line's)."""

# Patterns end in \Z, not $: msgspec searches them with Python's re, where $ also matches before a
# final newline.
CALL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{7,63}\Z"
E164_PATTERN = r"^\+[1-9][0-9]{1,14}\Z"
DIALLED_PATTERN = r"^[0-9*#+]{1,32}\Z"
DTMF_PATTERN = r"^[0-9*#A-D]{1,32}\Z"
CADENCE_PATTERN = r"^[a-z]{2}(-[a-z0-9]{1,8})?\Z"
ATTENDANT_KEY_PATTERN = r"^[1-9]\Z"
MAX_FLOW_ID = (1 << 62) - 1
"""Largest QUIC variable-length integer: flow ids are 0 … 2^62−1."""

CallId = Annotated[str, Meta(pattern=CALL_ID_PATTERN)]
"""8–64 chars of ``[A-Za-z0-9._:-]``, starting alphanumeric; chosen with ≥ 64 random bits."""
E164 = Annotated[str, Meta(pattern=E164_PATTERN)]
"""An E.164 number: ``+``, country code, national number; 2–15 digits."""
FlowId = Annotated[int, Meta(ge=0, le=MAX_FLOW_ID)]
CardId = Annotated[str, Meta(pattern=r"^[0-9a-f]{32}\Z")]
Cadence = Annotated[str, Meta(pattern=CADENCE_PATTERN)]
"""A ring cadence name the box knows (``us``, ``us-dr1`` … ``us-dr4``, ``uk``, ``de`` …)."""
ShortText = Annotated[str, Meta(max_length=200)]


# --- enums -----------------------------------------------------------------------------------------


class CallerIdAbsence(StrEnum):
    """Why there is no caller number (the exchange's "P" and "O" in caller ID)."""

    PRIVATE = "private"
    UNAVAILABLE = "unavailable"


class LineState(StrEnum):
    """What a host line reports about a call on it (``line.state``)."""

    CALLER_GONE = "caller-gone"  # incoming: the ringing stopped before anyone answered
    RINGBACK = "ringback"  # outgoing: the far end is ringing
    ANSWERED = "answered"  # outgoing: the far end answered (usually inferred, see ``inferred``)
    BUSY = "busy"  # outgoing: busy tone
    NO_ANSWER = "no-answer"  # outgoing: ringback went on past the host's limit
    FAR_END_HANGUP = "far-end-hangup"  # connected: loop current loss, busy/reorder tone after answer
    LINE_LOST = "line-lost"  # the modem stopped answering or vanished


class LineResult(StrEnum):
    """The outcome of a ``line.answer`` / ``line.dial`` / ``line.hangup`` (``line.result``)."""

    ANSWERED = "answered"
    DIALLED = "dialled"  # digits sent; progress follows as line.state
    HUNG_UP = "hung-up"
    BUSY = "busy"  # the line is in use by another call
    NO_DIALTONE = "no-dialtone"
    CALLER_GONE = "caller-gone"
    HALF_DUPLEX = "half-duplex"  # this modem cannot bridge a conversation
    ERROR = "error"


class DeclineReason(StrEnum):
    """Why a terminal does not ring for an offer (``call.declined``) or stops ringing (``call.reject``)."""

    BUSY = "busy"  # no call waiting possible
    UNKNOWN_CARD = "unknown-card"  # the holder's card is no longer in this box
    FILTERED = "filtered"  # the holder's filters block this caller
    DECLINED = "declined"  # the holder declined


class CancelReason(StrEnum):
    """Why the cloud withdraws an offer (``call.cancel``)."""

    ANSWERED_ELSEWHERE = "answered-elsewhere"
    CALLER_GONE = "caller-gone"
    TIMEOUT = "timeout"  # nobody answered within the holder's no-answer time
    ERROR = "error"


class AnswerResult(StrEnum):
    CONNECTED = "connected"  # this box won the call: bridge the handset to flow_id
    ANSWERED_ELSEWHERE = "answered-elsewhere"  # another box was first: stop ringing
    GONE = "gone"  # the call ended (or was never known) before the answer arrived


class Route(StrEnum):
    """Which way a placed call goes (``call.placed``)."""

    BOX = "box"  # box to box by follow-me number: media through the relay
    OWN_LINE = "own-line"  # out this box's own line: the box dials and bridges locally
    HOST_LINE = "host-line"  # out another box's host line: media through the relay
    SOS = "sos"  # an emergency call through the cloud's SIP route (call.emergency): media through the relay


class RefuseReason(StrEnum):
    """Why a placed call cannot be made (``call.refused``, ``call.progress`` state refused).

    The box plays reorder and speaks the reason.
    """

    NO_ROUTE = "no-route"  # no own line and no host line for the destination's area
    NO_RIGHTS = "no-rights"  # host lines exist for the area but the caller may not use them
    NOT_REACHABLE = "not-reachable"  # a subscriber number with no card registered anywhere
    UNKNOWN_CARD = "unknown-card"  # the card is not registered at this box
    LINE_BUSY = "line-busy"  # the chosen host line is in use
    NO_DIALTONE = "no-dialtone"
    LINE_ERROR = "line-error"
    DUPLICATE_CALL = "duplicate-call"  # the call id is already in use
    FILTERED = "filtered"  # the called holder's filters do not take this call (wire.profile)


class ProgressState(StrEnum):
    RINGING = "ringing"
    ANSWERED = "answered"
    BUSY = "busy"
    REFUSED = "refused"
    ENDED = "ended"  # ended before answer for another reason (no-answer, media-silence …)
    WARNING = "warning"  # the call reaches its length or budget limit soon: warn the caller


class EndReason(StrEnum):
    """Why a call ended (``call.hangup``, ``line.hangup``, ``call.progress`` ended, call records)."""

    HANGUP = "hangup"  # the sender's user hung up
    FAR_END = "far-end"  # the other party hung up
    NO_ANSWER = "no-answer"
    BUSY = "busy"
    MEDIA_SILENCE = "media-silence"  # no media datagrams on a leg for the cloud's silence timeout
    LINK_LOST = "link-lost"
    LINE_LOST = "line-lost"
    CLOUD_RESTART = "cloud-restart"
    LIMIT = "limit"  # the host line's rights: the longest call, or the budget, was reached
    ERROR = "error"


# --- shared body parts -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerId:
    """Caller ID as the host line received it: number (digits as sent, E.164 when the host could
    normalise it), name, or the reason there is none. All absent: the line gave no caller ID at all."""

    number: Annotated[str, Meta(pattern=DIALLED_PATTERN)] | None = None
    name: Annotated[str, Meta(max_length=64)] | None = None
    absent: CallerIdAbsence | None = None


# --- host line -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LineRing(Message):
    """Host → cloud: the host line ``line`` is ringing. Sent on every ring with the same ``call_id``
    (chosen by the host at the first ring) and the ring count; caller ID when the host has it."""

    TYPE: ClassVar[str] = "line.ring"
    KIND: ClassVar[Kind] = "request"
    SENDER: ClassVar[Sender] = "box"
    call_id: CallId
    line: E164
    caller: CallerId = CallerId()
    rings: Annotated[int, Meta(ge=1, le=1000)] = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class AttendantChoice:
    """One line of a shared line's attendant menu: "press ``key`` for ``label``" (the holder's name)."""

    key: Annotated[str, Meta(pattern=ATTENDANT_KEY_PATTERN)]
    label: Annotated[str, Meta(min_length=1, max_length=64)]


@dataclass(frozen=True, slots=True, kw_only=True)
class LineRouted(Message):
    """Reply to ``line.ring``: ``offered`` terminals are being rung (0: nobody to ring for this number).

    ``attendant`` (the line's number has several holders, docs/protocol.md §10.6): nobody rings yet; the
    host answers, speaks the menu, and tells the caller's choice with ``line.choice``."""

    TYPE: ClassVar[str] = "line.routed"
    KIND: ClassVar[Kind] = "reply"
    SENDER: ClassVar[Sender] = "cloud"
    call_id: CallId
    offered: Annotated[int, Meta(ge=0)]
    filtered: str = ""  # offered 0 because of holders' filters: "block" | "reject" | "voicemail" | ""
    attendant: Annotated[tuple[AttendantChoice, ...], Meta(max_length=9)] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class LineChoice(Message):
    """Host → cloud: the caller's choice in the attendant menu of call ``call_id``: ``key`` of one
    ``AttendantChoice``, or ``""`` (no key, or none that is in the menu, after the menu was said twice:
    the default, every holder rings)."""

    TYPE: ClassVar[str] = "line.choice"
    KIND: ClassVar[Kind] = "push"
    SENDER: ClassVar[Sender] = "box"
    call_id: CallId
    key: Annotated[str, Meta(pattern=r"^[1-9]?\Z")] = ""


class Fallback(StrEnum):
    """What the host does on a line it answered for the attendant when nobody will take the call."""

    VOICEMAIL = "voicemail"  # the holder's voicemail outcome (the same as ``line.routed`` filtered)
    BLOCK = "block"  # the holder's filter refuses the caller: a spoken refusal
    REJECT = "reject"  # a silent refusal: the host hangs up


@dataclass(frozen=True, slots=True, kw_only=True)
class LineFallback(Message):
    """Cloud → host: nobody takes the attendant call ``call_id`` (no answer within the chosen holder's
    time, declined, no card registered, or the holder's filter): do ``outcome`` for ``account`` (the
    chosen holder; "" when the caller chose nobody) on the line. The cloud has ended the call."""

    TYPE: ClassVar[str] = "line.fallback"
    KIND: ClassVar[Kind] = "push"
    SENDER: ClassVar[Sender] = "cloud"
    call_id: CallId
    outcome: Fallback
    account: Annotated[str, Meta(max_length=128)] = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class LineStateReport(Message):
    """Host → cloud: what happened on the line for call ``call_id``. ``inferred`` marks an answer the
    modem guessed (ringback stopped, voice energy) rather than saw."""

    TYPE: ClassVar[str] = "line.state"
    KIND: ClassVar[Kind] = "push"
    SENDER: ClassVar[Sender] = "box"
    call_id: CallId
    state: LineState
    inferred: bool = False
    detail: ShortText = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class LineAnswer(Message):
    """Cloud → host: take the ringing call off hook and bridge it to media flow ``flow_id``."""

    TYPE: ClassVar[str] = "line.answer"
    KIND: ClassVar[Kind] = "request"
    SENDER: ClassVar[Sender] = "cloud"
    call_id: CallId
    flow_id: FlowId


@dataclass(frozen=True, slots=True, kw_only=True)
class LineDial(Message):
    """Cloud → host: go off hook, dial ``number`` and bridge the line to media flow ``flow_id``."""

    TYPE: ClassVar[str] = "line.dial"
    KIND: ClassVar[Kind] = "request"
    SENDER: ClassVar[Sender] = "cloud"
    call_id: CallId
    number: E164
    flow_id: FlowId
    grant: Annotated[str, Meta(max_length=2048)] = ""  # the registry's signed rights (wire.grant)


@dataclass(frozen=True, slots=True, kw_only=True)
class LineHangup(Message):
    """Cloud → host: hang up the line's call ``call_id``."""

    TYPE: ClassVar[str] = "line.hangup"
    KIND: ClassVar[Kind] = "request"
    SENDER: ClassVar[Sender] = "cloud"
    call_id: CallId
    reason: EndReason = EndReason.FAR_END


@dataclass(frozen=True, slots=True, kw_only=True)
class LineResultReply(Message):
    """Reply to ``line.answer`` / ``line.dial`` / ``line.hangup``."""

    TYPE: ClassVar[str] = "line.result"
    KIND: ClassVar[Kind] = "reply"
    SENDER: ClassVar[Sender] = "box"
    call_id: CallId
    result: LineResult
    detail: ShortText = ""


# --- terminal: incoming calls -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CallOffer(Message):
    """Cloud → terminal: ring for the holder of ``card_id``: ``number`` (the holder's number that was
    called) with ``cadence`` and the caller ID. Media will use ``flow_id`` if this box wins."""

    TYPE: ClassVar[str] = "call.offer"
    KIND: ClassVar[Kind] = "request"
    SENDER: ClassVar[Sender] = "cloud"
    call_id: CallId
    card_id: CardId
    number: E164
    caller: CallerId = CallerId()
    cadence: Cadence = "us-dr1"
    flow_id: FlowId
    emergency_callback: bool = False  # an answering point calling back: ring with no card (card_id unused)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRinging(Message):
    """Reply to ``call.offer``: the handset rings (or plays call waiting) now."""

    TYPE: ClassVar[str] = "call.ringing"
    KIND: ClassVar[Kind] = "reply"
    SENDER: ClassVar[Sender] = "box"
    call_id: CallId


@dataclass(frozen=True, slots=True, kw_only=True)
class CallDeclined(Message):
    """Reply to ``call.offer``: this box will not ring for it."""

    TYPE: ClassVar[str] = "call.declined"
    KIND: ClassVar[Kind] = "reply"
    SENDER: ClassVar[Sender] = "box"
    call_id: CallId
    reason: DeclineReason


@dataclass(frozen=True, slots=True, kw_only=True)
class CallCancel(Message):
    """Cloud → terminal: stop ringing for ``call_id`` (answered elsewhere, the caller gave up …)."""

    TYPE: ClassVar[str] = "call.cancel"
    KIND: ClassVar[Kind] = "request"
    SENDER: ClassVar[Sender] = "cloud"
    call_id: CallId
    reason: CancelReason


@dataclass(frozen=True, slots=True, kw_only=True)
class CallAnswer(Message):
    """Terminal → cloud: the handset went off hook for the offered call ``call_id``."""

    TYPE: ClassVar[str] = "call.answer"
    KIND: ClassVar[Kind] = "request"
    SENDER: ClassVar[Sender] = "box"
    call_id: CallId
    card_id: CardId


@dataclass(frozen=True, slots=True, kw_only=True)
class CallAnswered(Message):
    """Reply to ``call.answer``: the first answer wins (``connected``, with the leg's ``flow_id``)."""

    TYPE: ClassVar[str] = "call.answered"
    KIND: ClassVar[Kind] = "reply"
    SENDER: ClassVar[Sender] = "cloud"
    call_id: CallId
    result: AnswerResult
    flow_id: FlowId | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallReject(Message):
    """Terminal → cloud: stop offering ``call_id`` here (the other offers go on)."""

    TYPE: ClassVar[str] = "call.reject"
    KIND: ClassVar[Kind] = "request"
    SENDER: ClassVar[Sender] = "box"
    call_id: CallId
    reason: DeclineReason = DeclineReason.DECLINED


# --- both ends of a connected call ---------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CallHangup(Message):
    """Either end: the call ``call_id`` is over for the sender (terminal → cloud: the handset hung up or
    the caller abandons a placed call; cloud → terminal: the other party is gone)."""

    TYPE: ClassVar[str] = "call.hangup"
    KIND: ClassVar[Kind] = "request"
    SENDER: ClassVar[Sender] = "either"
    call_id: CallId
    reason: EndReason = EndReason.HANGUP


@dataclass(frozen=True, slots=True, kw_only=True)
class CallDtmf(Message):
    """Either end: DTMF digits keyed during the connected call (the cloud forwards them to the other
    leg; a host line plays them towards the exchange)."""

    TYPE: ClassVar[str] = "call.dtmf"
    KIND: ClassVar[Kind] = "push"
    SENDER: ClassVar[Sender] = "either"
    call_id: CallId
    digits: Annotated[str, Meta(pattern=DTMF_PATTERN)]
    duration_ms: Annotated[int, Meta(ge=20, le=2000)] = 100


# --- terminal: outgoing calls --------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CallPlace(Message):
    """Terminal → cloud: the holder of ``card_id`` calls ``number`` (already E.164 by the box's plan)."""

    TYPE: ClassVar[str] = "call.place"
    KIND: ClassVar[Kind] = "request"
    SENDER: ClassVar[Sender] = "box"
    call_id: CallId
    card_id: CardId
    number: E164


EMERGENCY_DIGITS_PATTERN = r"^[0-9]{2,6}\Z"


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEmergency(Message):
    """Box → cloud: an emergency call from a box with no line of its own (DESIGN §6.4). Never refused for
    a card, rights, budget or filters: ``card_id`` ("" with no card in) is only recorded. ``line`` is the
    box's call-back number ("" when it has none: the cloud uses the holder's or the box's recorded one);
    ``location`` the box's snapshot (wire.location) or None (the cloud uses the box's recorded one).
    The reply is ``call.placed`` with route ``sos`` and a flow id (then ``call.progress`` as for any
    placed call), or ``call.refused`` ``no-route`` when no answering point is known at all."""

    TYPE: ClassVar[str] = "call.emergency"
    KIND: ClassVar[Kind] = "request"
    SENDER: ClassVar[Sender] = "box"
    call_id: CallId
    number: Annotated[str, Meta(pattern=EMERGENCY_DIGITS_PATTERN)]
    card_id: Annotated[str, Meta(pattern=r"^([0-9a-f]{32})?\Z")] = ""
    line: Annotated[str, Meta(pattern=r"^(\+[1-9][0-9]{1,14})?\Z")] = ""
    location: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallPlaced(Message):
    """Reply to ``call.place``: the route taken. ``flow_id`` for relayed routes (box, host-line), none
    for ``own-line`` (the box dials its own line, reports ``line.state`` and ends with ``call.hangup``).
    ``via`` is the host line's number for host-line routes."""

    TYPE: ClassVar[str] = "call.placed"
    KIND: ClassVar[Kind] = "reply"
    SENDER: ClassVar[Sender] = "cloud"
    call_id: CallId
    route: Route
    flow_id: FlowId | None = None
    via: E164 | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRefused(Message):
    """Reply to ``call.place``: the call cannot be made; the box plays reorder and says why."""

    TYPE: ClassVar[str] = "call.refused"
    KIND: ClassVar[Kind] = "reply"
    SENDER: ClassVar[Sender] = "cloud"
    call_id: CallId
    reason: RefuseReason
    message: ShortText = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallProgress(Message):
    """Cloud → terminal: progress of a call it placed. After ``answered`` the call ends by
    ``call.hangup``; ``busy``, ``refused`` (with ``refused``) and ``ended`` (with ``reason``) end it."""

    TYPE: ClassVar[str] = "call.progress"
    KIND: ClassVar[Kind] = "push"
    SENDER: ClassVar[Sender] = "cloud"
    call_id: CallId
    state: ProgressState
    reason: EndReason | None = None
    refused: RefuseReason | None = None
    answer_inferred: bool = False


# --- media ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaBind(Message):
    """Box → cloud, after a reconnect: this connection now carries flow ``flow_id`` of ``call_id``."""

    TYPE: ClassVar[str] = "media.bind"
    KIND: ClassVar[Kind] = "request"
    SENDER: ClassVar[Sender] = "box"
    call_id: CallId
    flow_id: FlowId


CALL_MESSAGES: tuple[type[Message], ...] = (
    LineRing, LineRouted, LineChoice, LineFallback, LineStateReport, LineAnswer, LineDial, LineHangup,
    LineResultReply,
    CallOffer, CallRinging, CallDeclined, CallCancel, CallAnswer, CallAnswered, CallReject,
    CallHangup, CallDtmf, CallPlace, CallEmergency, CallPlaced, CallRefused, CallProgress, MediaBind,
)  # fmt: skip

for _cls in CALL_MESSAGES:
    register_message(_cls)

# voicemail messages build on this module's patterns: imported once they exist (importing wire.calls or
# wire.messages first then registers them either way)
from roamline.wire import voicemail as _voicemail  # noqa: E402, F401
