"""Link messages: one frozen dataclass per message type, a registry by type name, frame conversion.

The envelope (``v``, ``type``, ``id``, ``re``, ``body``) is described in docs/protocol.md. A message
class holds only the body; ``id``/``re`` travel beside it in an :class:`Envelope`. Every message class
has ``TYPE`` (its wire name) and ``KIND``:

- ``request``: must carry ``id``; the receiver answers with a reply whose ``re`` is that id (or ``error``);
- ``reply``: must carry ``re`` (``error`` may omit it when it answers no particular request);
- ``push``: one-way; if it carries an ``id`` the receiver answers ``ok`` or ``error``.

Binary fields (nonces, signatures) are bytes here and standard base64 with padding on the wire.
Receivers ignore unknown body fields (additive changes need no version bump); field types are strict.
Call signalling (``call.``, ``line.``, ``media.``) is in ``roamline.wire.calls``, registered on import
of this module. Reserved type-name prefixes for later: ``location.``, ``ticket.``, ``voicemail.``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Literal, TypeVar

from roamline.wire.errors import (
    BadBody,
    ErrorCode,
    LinkError,
    MalformedFrame,
    UnknownType,
    UnsupportedVersion,
)
from roamline.wire.framing import Frame, encode
from roamline.wire.typed import TypedError, convert, to_builtins

PROTOCOL_VERSION = 1
ALPN = "roamline/1"

Kind = Literal["request", "reply", "push"]
Sender = Literal["box", "cloud", "either"]


B64Bytes = bytes
"""bytes in Python, standard padded base64 in JSON (msgspec's own conversion of ``bytes`` fields)."""

Code = ErrorCode
"""An error code; codes added by newer peers read as ``internal`` (docs/protocol.md §9, ``from_frame``)."""

_KNOWN_CODES = frozenset(c.value for c in ErrorCode)


class NoncePurpose(StrEnum):
    HELLO = "hello"
    REGISTER = "register"


class EnrollKind(StrEnum):
    BOX = "box"
    CARD = "card"


class CardSlot(StrEnum):
    """The PIV key a card enrollment certifies (SP 800-73-4 key references)."""

    CARD_AUTH = "9e"  # Card Authentication: registration, no PIN
    PIV_AUTH = "9a"  # PIV Authentication: acts that need the holder's PIN


class RevokedKind(StrEnum):
    CARD = "card"
    BOX = "box"


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """Base of every message type. Subclasses are frozen dataclasses whose fields are the body."""

    TYPE: ClassVar[str] = ""
    KIND: ClassVar[Kind] = "push"
    SENDER: ClassVar[Sender] = "either"
    """Which end may send it; a link refuses a request or push from the wrong end (``forbidden``)."""


# --- nonce -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class NonceRequest(Message):
    """Ask the registry for a fresh nonce, bound to this connection, for a signature."""

    TYPE: ClassVar[str] = "nonce"
    KIND: ClassVar[Kind] = "request"
    SENDER: ClassVar[Sender] = "box"
    purpose: NoncePurpose


@dataclass(frozen=True, slots=True, kw_only=True)
class NonceIssued(Message):
    TYPE: ClassVar[str] = "nonce-issued"
    KIND: ClassVar[Kind] = "reply"
    nonce: B64Bytes
    expires_in: float
    purpose: NoncePurpose


# --- box authentication ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Hello(Message):
    """The box (or an installer's tool) proves its identity: its certificate (PEM, leaf first; role box or
    installer) and a signature of hello_digest() over the certificate's id."""

    TYPE: ClassVar[str] = "hello"
    KIND: ClassVar[Kind] = "request"
    SENDER: ClassVar[Sender] = "box"
    cert_pem: str
    nonce: B64Bytes
    signature: B64Bytes
    software: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Welcome(Message):
    TYPE: ClassVar[str] = "welcome"
    KIND: ClassVar[Kind] = "reply"
    box_id: str
    server_time: float
    lease_s: float
    keepalive_s: float
    peer_address: str = ""  # the box's address as the registry sees it ("203.0.113.5:4433"; "" unknown)


# --- card registration -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Register(Message):
    """A card at this box: its certificate, CHUID card id, and its signature of registration_digest()."""

    TYPE: ClassVar[str] = "register"
    KIND: ClassVar[Kind] = "request"
    SENDER: ClassVar[Sender] = "box"
    card_cert_pem: str
    card_id: str
    nonce: B64Bytes
    signature: B64Bytes
    location: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Registered(Message):
    TYPE: ClassVar[str] = "registered"
    KIND: ClassVar[Kind] = "reply"
    registration_id: str
    card_id: str
    account: str
    holder: str
    numbers: tuple[str, ...]
    profile: dict[str, Any]
    lease_s: float
    seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Deregister(Message):
    TYPE: ClassVar[str] = "deregister"
    KIND: ClassVar[Kind] = "request"
    SENDER: ClassVar[Sender] = "box"
    card_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Ok(Message):
    """Generic success reply (deregister, pushes that carried an id)."""

    TYPE: ClassVar[str] = "ok"
    KIND: ClassVar[Kind] = "reply"


@dataclass(frozen=True, slots=True, kw_only=True)
class Refresh(Message):
    """Keep the leases of these cards' registrations at this box alive."""

    TYPE: ClassVar[str] = "refresh"
    KIND: ClassVar[Kind] = "request"
    SENDER: ClassVar[Sender] = "box"
    card_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Refreshed(Message):
    """Leases renewed for lease_s; ``missing`` lists asked-for cards no longer registered at this box."""

    TYPE: ClassVar[str] = "refreshed"
    KIND: ClassVar[Kind] = "reply"
    lease_s: float
    missing: tuple[str, ...] = ()


# --- server pushes ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Superseded(Message):
    """The card registered at another box; this box must forget the holder."""

    TYPE: ClassVar[str] = "superseded"
    KIND: ClassVar[Kind] = "push"
    SENDER: ClassVar[Sender] = "cloud"
    card_id: str
    registration_id: str
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Revoked(Message):
    TYPE: ClassVar[str] = "revoked"
    KIND: ClassVar[Kind] = "push"
    SENDER: ClassVar[Sender] = "cloud"
    kind: RevokedKind
    id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HolderProfile(Message):
    """A holder's profile changed (server→box), or a box reports a change the holder made (box→server)."""

    TYPE: ClassVar[str] = "profile"
    KIND: ClassVar[Kind] = "push"
    card_id: str
    profile: dict[str, Any]
    seq: int = 0


# --- errors and liveness ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Error(Message):
    TYPE: ClassVar[str] = "error"
    KIND: ClassVar[Kind] = "reply"
    code: Code
    message: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Ping(Message):
    TYPE: ClassVar[str] = "ping"
    KIND: ClassVar[Kind] = "request"


@dataclass(frozen=True, slots=True, kw_only=True)
class Pong(Message):
    TYPE: ClassVar[str] = "pong"
    KIND: ClassVar[Kind] = "reply"


# --- enrollment ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Enroll(Message):
    """Installer tool → registry: get a certificate for a box or card key, with a one-time token.

    Allowed before hello (the token is the credential). ``card_id``, ``account`` and ``slot`` (which
    key: 9E, the default, or 9A) are for cards; ``box`` holds box details (board, street address, line
    number …) for boxes.
    """

    TYPE: ClassVar[str] = "enroll"
    KIND: ClassVar[Kind] = "request"
    SENDER: ClassVar[Sender] = "box"
    token: str
    csr_pem: str
    kind: EnrollKind
    account: str | None = None
    card_id: str | None = None
    slot: CardSlot | None = None
    box: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Enrolled(Message):
    TYPE: ClassVar[str] = "enrolled"
    KIND: ClassVar[Kind] = "reply"
    cert_pem: str
    ca_cert_pem: str
    id: str


# --- installers ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BoxList(Message):
    """Installer → registry, after an installer's hello: the enrolled boxes (newest first)."""

    TYPE: ClassVar[str] = "box-list"
    KIND: ClassVar[Kind] = "request"
    limit: int = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class BoxListed(Message):
    """Each box: ``id``, ``name``, ``board``, ``line_number``, ``location``, ``revoked``, ``created``."""

    TYPE: ClassVar[str] = "box-listed"
    KIND: ClassVar[Kind] = "reply"
    boxes: tuple[dict[str, Any], ...]


# --- durable outbox --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Deliver(Message):
    """One durable outbox item (call record, voicemail notice, 911 event …); ``key`` makes it idempotent."""

    TYPE: ClassVar[str] = "deliver"
    KIND: ClassVar[Kind] = "request"
    SENDER: ClassVar[Sender] = "box"
    key: str
    kind: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Ack(Message):
    """The registry stored these items (also for keys it had already stored: delivery is idempotent)."""

    TYPE: ClassVar[str] = "ack"
    KIND: ClassVar[Kind] = "reply"
    keys: tuple[str, ...]


# --- location ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LocationUnconfirmed(Message):
    """The box may have moved (GPS displacement or a network change): its recorded address is no longer
    vouched for until someone at the box confirms it. ``location`` is the box's snapshot (wire.location)."""

    TYPE: ClassVar[str] = "location.unconfirmed"
    KIND: ClassVar[Kind] = "request"
    at: float
    reason: str
    distance_m: float | None = None
    location: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LocationConfirmed(Message):
    """Someone at the box confirmed (or chose) one of its recorded addresses with the handset."""

    TYPE: ClassVar[str] = "location.confirmed"
    KIND: ClassVar[Kind] = "request"
    at: float
    by: str  # the holder's card id, or "handset" with no card in
    address: int  # index of the chosen recorded address
    civic: dict[str, str]


# --- registry --------------------------------------------------------------------------------------

MESSAGE_TYPES: dict[str, type[Message]] = {}


def register_message(cls: type[Message]) -> type[Message]:
    """Add a message class to the registry (later rooms' call/media/location messages use this too).

    Bodies are checked and written by msgspec from the class's annotations (strict types, the
    ``msgspec.Meta`` constraints, unknown body fields ignored); msgspec keeps what it learns of a class
    on its first use, so registering costs nothing."""
    if not cls.TYPE or cls.TYPE in MESSAGE_TYPES:
        raise ValueError(f"message type {cls.TYPE!r} is empty or already registered")
    MESSAGE_TYPES[cls.TYPE] = cls
    return cls


def _registered(cls: type[Message]) -> type[Message]:
    if MESSAGE_TYPES.get(cls.TYPE) is not cls:
        raise UnknownType(f"message class {cls.__name__} is not registered")
    return cls


for _cls in (
    NonceRequest, NonceIssued, Hello, Welcome, Register, Registered, Deregister, Ok, Refresh, Refreshed,
    Superseded, Revoked, HolderProfile, Error, Ping, Pong, Enroll, Enrolled, Deliver, Ack, BoxList,
    BoxListed, LocationUnconfirmed, LocationConfirmed,
):  # fmt: skip
    register_message(_cls)

ALLOWED_BEFORE_HELLO: frozenset[str] = frozenset({"nonce", "hello", "enroll", "ping"})
"""Request types a server accepts before the box's hello has been verified."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """A decoded message with its envelope fields."""

    message: Message
    id: str | None = None
    re: str | None = None
    v: int = PROTOCOL_VERSION


def body_of(message: Message) -> dict[str, Any]:
    """The JSON body of ``message`` (bytes as base64, tuples as lists, enums as strings)."""
    _registered(type(message))
    body: dict[str, Any] = to_builtins(message)
    return body


def to_frame(message: Message, *, id: str | None = None, re: str | None = None) -> Frame:
    """The frame carrying ``message``. Requests need ``id``, replies (except error) need ``re``."""
    if message.KIND == "request" and id is None:
        raise ValueError(f"{message.TYPE} is a request and needs an id")
    if message.KIND == "reply" and re is None and not isinstance(message, Error):
        raise ValueError(f"{message.TYPE} is a reply and needs re")
    return Frame(v=PROTOCOL_VERSION, type=message.TYPE, body=body_of(message), id=id, re=re)


def encode_message(message: Message, *, id: str | None = None, re: str | None = None) -> bytes:
    """Length-prefixed frame bytes for ``message``."""
    return encode(to_frame(message, id=id, re=re))


def from_frame(frame: Frame) -> Envelope:
    """Validate ``frame`` into an Envelope.

    Raises UnsupportedVersion (``v`` is not 1), UnknownType, BadBody (body does not validate), or
    MalformedFrame (a request without ``id`` or a reply without ``re``).
    """
    if frame.v != PROTOCOL_VERSION:
        raise UnsupportedVersion(f"protocol version {frame.v} is not supported (this end speaks 1)")
    cls = MESSAGE_TYPES.get(frame.type)
    if cls is None:
        raise UnknownType(f"unknown message type {frame.type!r}")
    if cls.KIND == "request" and frame.id is None:
        raise MalformedFrame(f"{frame.type} is a request and needs an id")
    if cls.KIND == "reply" and frame.re is None and cls is not Error:
        raise MalformedFrame(f"{frame.type} is a reply and needs re")
    body: Any = frame.body
    if cls is Error and isinstance(body, dict):
        code = body.get("code")
        if isinstance(code, str) and code not in _KNOWN_CODES:
            body = {**body, "code": ErrorCode.INTERNAL.value}  # a newer peer's code reads as internal
    try:
        message = convert(body, cls, strict=True, top="(body)")
    except TypedError as exc:
        raise BadBody(f"{frame.type}: {exc}") from None
    return Envelope(message=message, id=frame.id, re=frame.re, v=frame.v)


def error_for(exc: Exception) -> Error:
    """The ``error`` message that answers ``exc`` (LinkError subclasses keep their code; others: internal)."""
    if isinstance(exc, LinkError):
        return Error(code=exc.code, message=str(exc)[:500])
    return Error(code=ErrorCode.INTERNAL, message="internal error")


M = TypeVar("M", bound=Message)


def expect(reply: Message, cls: type[M]) -> M:
    """``reply`` as the type a request must get back; a peer that answers otherwise misbehaved."""
    if not isinstance(reply, cls):
        raise BadBody(f"expected {cls.TYPE}, got {reply.TYPE}")
    return reply


# The call signalling messages register themselves with the registry above (imported last: they build
# on this module).
from roamline.wire import calls as _calls  # noqa: E402, F401
from roamline.wire import local_services as _local_services  # noqa: E402, F401
# (wire.voicemail builds on wire.calls too: wire.calls imports it last, so either may be imported first)
