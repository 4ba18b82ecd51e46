"""The box core's typed, frozen inputs and outputs.

Inputs are the peripherals' own events (``firmware.card.events``, ``firmware.line.events``,
``firmware.handset.events``) plus the ones below (results of actions the runtime carried out, the link,
calls from the cloud). Outputs are :class:`Action` objects the runtime carries out; results come back
as inputs. Call signalling here is the core's own vocabulary; the runtime's link adapter maps it to and
from the wire messages (``wire/calls.py``), so the core does not depend on their spelling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from roamline.wire.messages import Message

# -- inputs: results of card actions ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Input:
    """Base of the core's own inputs."""


@dataclass(frozen=True, slots=True)
class CardRead(Input):
    reader: str
    gen: int  # the insertion this belongs to (stale results of an earlier insertion are ignored)
    card_id: str
    cert_pem: str


@dataclass(frozen=True, slots=True)
class CardSigned(Input):
    reader: str
    gen: int
    signature: bytes


@dataclass(frozen=True, slots=True)
class CardFailed(Input):
    reader: str
    gen: int
    reason: str


# -- inputs: the link ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkUp(Input):
    box_id: str


@dataclass(frozen=True, slots=True)
class LocationSnapshot(Input):
    """The box's location snapshot now (docs/protocol.md §4.1): registrations and 911 records carry it."""

    location: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class LinkDown(Input):
    reason: str


@dataclass(frozen=True, slots=True)
class Reply(Input):
    """The registry answered the request the core sent under ``key``."""

    key: str
    message: Message


@dataclass(frozen=True, slots=True)
class RequestFailed(Input):
    """The request under ``key`` got no answer (``unreachable``) or an error reply (``refused``)."""

    key: str
    reason: str
    unreachable: bool


@dataclass(frozen=True, slots=True)
class Pushed(Input):
    """A registry push (superseded, revoked, profile …)."""

    message: Message


# -- inputs: calls from the cloud (mapped from wire/calls.py by the link adapter) -----------------------


@dataclass(frozen=True, slots=True)
class CallerInfo:
    number: str | None = None
    name: str | None = None
    absent: str | None = None  # "private" | "unavailable" | None


@dataclass(frozen=True, slots=True)
class Offered(Input):
    """The cloud offers call ``call_id`` for the holder of ``card_id``; the core answers with
    :class:`OfferAnswer` under ``key``."""

    key: str
    call_id: str
    card_id: str
    number: str
    caller: CallerInfo
    cadence: str
    flow_id: int
    emergency_callback: bool = False  # the answering point calls back: rings with no card (DESIGN §6.4)


@dataclass(frozen=True, slots=True)
class Cancelled(Input):
    key: str
    call_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class RemoteHangup(Input):
    key: str
    call_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Progress(Input):
    """What became of a call this box placed or answered: ``state`` "placed" (relayed, ``flow_id``) |
    "own-line" (dial it out this box's line) | "ringing" | "answered" (``flow_id``) | "busy" | "refused" |
    "ended" | "answered-elsewhere" | "gone", with the refusal or end reason."""

    call_id: str
    state: str
    reason: str = ""
    flow_id: int | None = None


@dataclass(frozen=True, slots=True)
class MediaLost(Input):
    """A relayed call's voice is gone for good: ``reason`` "media-silence" (no datagram on the call's
    leg for the box's silence timeout while the link is down) or "call-gone" (after a reconnect the cloud
    refused to re-bind the leg: it no longer knows the call, e.g. it restarted)."""

    call_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class LineCommand(Input):
    """The cloud tells this host box to ``op`` ("answer" | "dial" | "hangup") its line for call_id."""

    key: str
    op: str
    call_id: str
    number: str = ""
    flow_id: int | None = None
    grant: str = ""  # dial: the registry's signed rights for this call (wire.grant)


@dataclass(frozen=True, slots=True)
class AttendantFallback(Input):
    """The cloud: nobody takes the attendant's call ``call_id`` on this box's line; do ``outcome``
    ("voicemail" | "block" | "reject") there for ``account`` (the chosen holder, "" if none)."""

    call_id: str
    outcome: str
    account: str = ""


# -- inputs: results of line operations ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineOpDone(Input):
    """The line bridge finished ``op`` ("dial" | "answer" | "hangup" | "flash"): ok, or the failure."""

    op: str
    ok: bool
    result: str = "ok"


# -- outputs ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Action:
    """Base of everything the core asks the runtime to do."""


@dataclass(frozen=True, slots=True)
class Emit(Action):
    """Log (and the event log in the store) — what happened, for people and tests."""

    event: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReadCard(Action):
    reader: str
    gen: int


@dataclass(frozen=True, slots=True)
class SignCard(Action):
    reader: str
    gen: int
    digest: bytes


@dataclass(frozen=True, slots=True)
class WipeHolder(Action):
    card_id: str


@dataclass(frozen=True, slots=True)
class CacheHolder(Action):
    card_id: str
    profile: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Request(Action):
    """Send ``message`` to the registry; the answer comes back as Reply/RequestFailed under ``key``."""

    key: str
    message: Message


@dataclass(frozen=True, slots=True)
class CallSignal(Action):
    """Call signalling towards the cloud, in the core's vocabulary (the link adapter makes it wire):
    ``kind`` among "line.ring", "line.state", "line.result", "line.choice", "call.place", "call.answer",
    "call.reject", "call.hangup", "call.dtmf", "offer.ringing", "offer.declined", "ack"; ``key`` for replies
    to cloud requests (the request's key) or our own requests (answers come back as Reply/RequestFailed)."""

    kind: str
    call_id: str
    key: str = ""
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Enqueue(Action):
    """Something the cloud must hear exactly once (call records …): the durable outbox."""

    kind: str
    payload: dict[str, Any]
    key: str


@dataclass(frozen=True, slots=True)
class FlushOutbox(Action):
    pass


@dataclass(frozen=True, slots=True)
class DropLink(Action):
    """Close the link and back off (the registry revoked this box)."""

    reason: str
    retry_after_s: float


# handset
@dataclass(frozen=True, slots=True)
class RingHandset(Action):
    cadence: str
    caller: CallerInfo | None


@dataclass(frozen=True, slots=True)
class StopRinging(Action):
    pass


@dataclass(frozen=True, slots=True)
class PlayTone(Action):
    tone: str | None  # "dial" (stutter while messages wait), "ringback", "busy", "reorder", "call_waiting"


@dataclass(frozen=True, slots=True)
class PlayPrompt(Action):
    """A spoken prompt from the box's data dir (never silence: missing prompts are a start-up error)."""

    name: str


@dataclass(frozen=True, slots=True)
class MakePrompt(Action):
    """Make (or reuse, when its words are unchanged) the spoken prompt ``name`` saying ``text`` before
    the next action runs (the attendant's menu: words from the registry)."""

    name: str
    text: str


@dataclass(frozen=True, slots=True)
class MessageWaiting(Action):
    active: bool


# line
@dataclass(frozen=True, slots=True)
class LineDo(Action):
    """Run ``op`` on the modem ("dial" with ``number`` | "answer" | "hangup" | "flash")."""

    op: str
    number: str = ""


# media
@dataclass(frozen=True, slots=True)
class Connect(Action):
    """Bridge audio: ``a`` and ``b`` among "handset", "line", "flow:<id>"; ``None`` b: disconnect a.
    To the line also "prompt:<name>" (a spoken prompt, then silence) and "tone:<name>" (ringback)."""

    a: str
    b: str | None
    call_id: str = ""  # for flows: the call they belong to (re-bound after a reconnect)
    tty_safe: bool = False  # emergency audio: no concealment or comfort noise on this flow (DESIGN §6.4)


# -- voicemail (the host line takes a message: docs/protocol.md §14) ----------------------------------------


@dataclass(frozen=True, slots=True)
class TakeVoicemail(Input):
    """The registry asks this host line to answer call ``call_id`` and record a message for ``number``;
    answered (ok / error) under ``key``."""

    key: str
    call_id: str
    message_id: str
    number: str
    greeting: str = "default"
    max_s: float = 120.0
    silence_s: float = 8.0


@dataclass(frozen=True, slots=True)
class LineRecorded(Input):
    """The runtime's recording of a message ended (``reason``: silence, max-length, or the core's
    StopRecording reason); ``audio`` is µ-law 8 kHz; times are wall-clock seconds (the recording's own)."""

    message_id: str
    audio: bytes
    reason: str
    started_wall: float
    ended_wall: float


@dataclass(frozen=True, slots=True)
class RecordLine(Action):
    """Play the greeting for ``number`` (``greeting`` id; ``default`` names the number) and a beep to the
    line, then record what it hears until ``silence_s`` without voice or ``max_s``; report LineRecorded."""

    message_id: str
    number: str
    greeting: str
    max_s: float
    silence_s: float


@dataclass(frozen=True, slots=True)
class StopRecording(Action):
    """End the recording now (the caller hung up, the line was taken for 911 …); LineRecorded follows."""

    message_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class PlayMessage(Action):
    """The holder's mailbox (``*98``): in the earpiece, the prompt ``before`` (if any), the message's
    µ-law ``audio``, then the prompt ``then``."""

    audio: bytes
    then: str
    before: str = ""


@dataclass(frozen=True, slots=True)
class RecordGreeting(Action):
    """*98 then *: in the earpiece the prompt ``vm-greeting`` and a beep, then the mouthpiece is recorded
    (µ-law, ≤ 60 s) until StopGreeting."""

    greeting_id: str


@dataclass(frozen=True, slots=True)
class StopGreeting(Action):
    greeting_id: str


@dataclass(frozen=True, slots=True)
class GreetingRecorded(Input):
    """What the mouthpiece said after the beep (µ-law 8 kHz, the closing # cut off)."""

    greeting_id: str
    audio: bytes
