"""The registry core, sans-I/O: link messages and ``now`` in, replies and pushes out.

``Registry.handle(conn_id, envelope, now)`` returns :class:`Outgoing` items: the reply to the request
(``re`` set) and pushes to other boxes' connections (a card's older box is told ``superseded``). The
server adapter delivers them and closes connections marked ``close``. ``now`` is wall-clock seconds
(leases and nonce expiries are stored and must mean the same after a restart); all state that matters
lives in the store, so a new Registry on the same store carries on. Per-connection state (is the box
proven? which nonces did this connection get?) is in memory: it dies with the connection anyway.

Security rules (DESIGN §4.7, §5, §7): nothing but nonce/hello/enroll/ping before a verified hello; every
signature is over a nonce issued to *this* connection, fresh, for the right purpose, and used once (the
nonce is burnt on first presentation, whatever the outcome); revocation is read from the store on every
message, so it takes effect on the next one. A card is registered at one box at a time: the newest proof
(the later-issued nonce) wins and the older box is told at once.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from roamline.cloud import voicemail
from roamline.cloud.enrollment import Enrollment
from roamline.cloud.errors import Refused, UsageError
from roamline.cloud.lookup import WhereEntry, where
from roamline.cloud.records import EmergencyRecord, Registration, RegistryStore
from roamline.wire import civic, identity, signing
from roamline.wire import emergency as wire_emergency
from roamline.wire import location as wire_location
from roamline.wire import profile as wire_profile
from roamline.wire import voicemail as wire_vm
from roamline.wire.calls import CALL_RECORD_KIND
from roamline.wire.errors import ErrorCode, LinkError
from roamline.wire.errors import UsageError as WireUsageError
from roamline.wire.local_services import Outcome as LocalOutcome
from roamline.wire.local_services import ServiceResolve, ServiceResolved
from roamline.wire.messages import (
    ALLOWED_BEFORE_HELLO,
    Ack,
    BoxList,
    BoxListed,
    Deliver,
    Deregister,
    Enroll,
    Envelope,
    Error,
    Hello,
    HolderProfile,
    LocationConfirmed,
    LocationUnconfirmed,
    Message,
    NonceIssued,
    NoncePurpose,
    NonceRequest,
    Ok,
    Ping,
    Pong,
    Refresh,
    Refreshed,
    Register,
    Registered,
    Revoked,
    RevokedKind,
    Superseded,
    Welcome,
)

log = logging.getLogger(__name__)

PIN_LOCK_AFTER = 10  # wrong voicemail PINs in a row (3 a *98 session at the box) before the lock
PIN_LOCK_S = 900.0  # how long the account's mailbox is then locked

INSTALLER_REQUESTS = frozenset({"nonce", "ping", "enroll", "box-list"})
"""What a connection proven by an installer's certificate may ask (no registrations: it is no box)."""


@dataclass(frozen=True, slots=True)
class RegistryConfig:
    lease_s: float = 120.0
    keepalive_s: float = 15.0
    nonce_ttl_s: float = 30.0
    nonce_bytes: int = 32
    max_live_nonces: int = 16  # per connection, issued and not yet presented: bounds unused nonces held
    sweep_s: float = 1.0  # how often the server runs sweep() (revocations, lapsed leases)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to send on connection ``conn_id`` (a reply when ``re`` is set); ``close`` after it."""

    conn_id: str
    message: Message
    re: str | None = None
    close: bool = False


@dataclass(frozen=True, slots=True)
class NotifyEmergency:
    """Tell the emergency contacts of the call ``call_id`` (its record is stored): the server hands it
    to ``cloud.notify``, which sends off the event loop and writes the results to the record."""

    call_id: str


Action = Outgoing | NotifyEmergency
"""What ``Registry.handle`` returns: messages to send, and notifications to start."""


class ConnState(StrEnum):
    OPEN = "open"  # connected, box not proven
    AUTHENTICATED = "authenticated"  # hello verified
    CLOSED = "closed"


_TRANSITIONS: dict[tuple[ConnState, str], ConnState] = {
    (ConnState.OPEN, "hello-ok"): ConnState.AUTHENTICATED,
    (ConnState.OPEN, "close"): ConnState.CLOSED,
    (ConnState.AUTHENTICATED, "close"): ConnState.CLOSED,
}


@dataclass(frozen=True, slots=True)
class _IssuedNonce:
    conn_id: str
    purpose: NoncePurpose
    issued: float
    expires: float


@dataclass(slots=True)
class _Conn:
    conn_id: str
    opened: float
    state: ConnState = ConnState.OPEN
    box_id: str | None = None
    installer_id: str | None = None  # an installer's tool proved itself instead of a box
    peer: str = ""  # the box's address as we see it (host:port), told back in welcome
    outstanding: set[bytes] = field(default_factory=set)  # nonces issued here and not yet presented
    # registrations whose holder gave the PIN here -> their session has listed (the next list is a new
    # *98 session: the PIN is asked again)
    mailbox_open: dict[str, bool] = field(default_factory=dict)

    def step(self, event: str) -> None:
        nxt = _TRANSITIONS.get((self.state, event))
        if nxt is None:
            raise UsageError(f"connection {self.conn_id}: {event!r} is illegal in state {self.state}")
        self.state = nxt


class Registry:
    def __init__(
        self,
        store: RegistryStore,
        ca: identity.CertificateAuthority,
        config: RegistryConfig | None = None,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._store = store
        self._ca = ca
        self._config = config or RegistryConfig()
        self._random = random_bytes
        self._conns: dict[str, _Conn] = {}
        self._box_conn: dict[str, str] = {}  # box id -> its current authenticated connection
        # Nonces issued and not yet presented, on any connection. In memory, not in the store: a nonce is
        # good only on the connection that asked for it, so it dies with it (and with the process).
        # Registry-wide rather than per connection so that presenting one on the wrong connection burns it.
        self._nonces: dict[bytes, _IssuedNonce] = {}
        self._enrollment = Enrollment(store, ca)
        self._profiles_seen: int | None = None  # the newest profile version pushed (None: not looked yet)
        # Wrong voicemail PINs in a row per account, and until when it is locked (in memory: a restart
        # forgets them, as it forgets the links whose mailboxes were open)
        self._pin_failures: dict[str, tuple[int, float]] = {}

    @property
    def config(self) -> RegistryConfig:
        return self._config

    # --- connections ---------------------------------------------------------------------------------

    def connection_opened(self, conn_id: str, now: float, peer: str = "") -> None:
        """A new link; ``peer`` is the box's address as the transport sees it (host:port, or "")."""
        if conn_id in self._conns:
            raise UsageError(f"connection {conn_id} is already open")
        self._conns[conn_id] = _Conn(conn_id, now, peer=peer)

    def connection_closed(self, conn_id: str, now: float) -> None:
        """Forget the connection; its box's registrations live on until their leases lapse."""
        conn = self._conns.pop(conn_id, None)
        if conn is None:
            return
        conn.step("close")
        for value in conn.outstanding:
            self._nonces.pop(value, None)
        if conn.box_id is not None and self._box_conn.get(conn.box_id) == conn_id:
            del self._box_conn[conn.box_id]

    def connection_of(self, box_id: str) -> str | None:
        return self._box_conn.get(box_id)

    def box_of(self, conn_id: str) -> str | None:
        conn = self._conns.get(conn_id)
        return None if conn is None else conn.box_id

    # --- messages ------------------------------------------------------------------------------------

    def handle(self, conn_id: str, env: Envelope, now: float) -> list[Action]:
        conn = self._conns.get(conn_id)
        if conn is None:
            raise UsageError(f"message on unknown connection {conn_id}")
        msg = env.message
        out: list[Action] = []
        if isinstance(msg, Error):  # the box could not handle something we sent: note it, never answer it
            log.warning("box-push-failed", extra={"fields": {"conn": conn_id, "box": conn.box_id,
                                                             "code": str(msg.code), "message": msg.message}})
            return out
        try:
            if msg.KIND != "request" and not isinstance(msg, HolderProfile):
                raise Refused(ErrorCode.FORBIDDEN, f"{msg.TYPE} is not something a box sends")
            if conn.state is not ConnState.AUTHENTICATED and msg.TYPE not in ALLOWED_BEFORE_HELLO:
                raise Refused(ErrorCode.NOT_AUTHENTICATED, f"{msg.TYPE} before a verified hello")
            if conn.box_id is not None:
                self._check_box_standing(conn, now, out)
            if conn.installer_id is not None and msg.TYPE not in INSTALLER_REQUESTS:
                raise Refused(ErrorCode.FORBIDDEN, f"{msg.TYPE} is not something an installer's tool sends")
            reply = self._dispatch(conn, msg, now, out)
        except Refused as exc:
            log.info("refused", extra={"fields": {"conn": conn_id, "type": msg.TYPE, "code": exc.code,
                                                  "reason": str(exc)}})
            reply = Error(code=exc.code, message=str(exc))
            close = exc.code == ErrorCode.REVOKED and isinstance(msg, Hello)
            return [*out, Outgoing(conn_id, reply, env.id, close=close or exc.close)]
        except LinkError as exc:  # bad certificate, bad signature
            log.info("refused", extra={"fields": {"conn": conn_id, "type": msg.TYPE, "code": exc.code,
                                                  "reason": str(exc)}})
            return [*out, Outgoing(conn_id, Error(code=exc.code, message=str(exc)), env.id)]
        if reply is not None:
            out.append(Outgoing(conn_id, reply, env.id))
        return out

    def _dispatch(self, conn: _Conn, msg: Message, now: float, out: list[Action]) -> Message | None:
        if isinstance(msg, NonceRequest):
            return self._nonce(conn, msg, now)
        if isinstance(msg, Hello):
            return self._hello(conn, msg, now, out)
        if isinstance(msg, Ping):
            return Pong()
        if isinstance(msg, Enroll):
            return self._enrollment.enroll(msg, now)
        if isinstance(msg, BoxList):
            return self._box_list(conn, msg)
        if isinstance(msg, Register):
            return self._register(conn, msg, now, out)
        if isinstance(msg, Deregister):
            return self._deregister(conn, msg, now)
        if isinstance(msg, Refresh):
            return self._refresh(conn, msg, now, out)
        if isinstance(msg, Deliver):
            return self._deliver(conn, msg, now, out)
        if isinstance(msg, (LocationUnconfirmed, LocationConfirmed)):
            return self._location(conn, msg, now)
        if isinstance(msg, ServiceResolve):
            return self._resolve_service(conn, msg, now)
        if isinstance(msg, HolderProfile):
            log.info("profile-from-box", extra={"fields": {"box": conn.box_id, "card": msg.card_id}})
            return None
        if isinstance(msg, (wire_vm.VoicemailList, wire_vm.VoicemailFetch, wire_vm.VoicemailMark,
                            wire_vm.VoicemailGreeting, wire_vm.VoicemailPin)):
            return self._mailbox(conn, msg, now)
        if isinstance(msg, wire_vm.VoicemailGreetingFetch):
            assert conn.box_id is not None
            piece = voicemail.greeting_for(self._store, conn.box_id, msg.message_id, msg.seq)
            if piece is None:
                raise Refused(ErrorCode.FORBIDDEN, f"no recorded greeting for message {msg.message_id} here")
            return piece
        raise Refused(ErrorCode.FORBIDDEN, f"{msg.TYPE} is not handled by the registry")

    def _mailbox(self, conn: _Conn,
                 msg: wire_vm.VoicemailList | wire_vm.VoicemailFetch | wire_vm.VoicemailMark
                 | wire_vm.VoicemailGreeting | wire_vm.VoicemailPin, now: float) -> Message:
        """The holder at this box reads, saves or deletes their messages (``*98``): only for a card
        registered here now, only that account's messages, and when they set a PIN only after it was
        given on this link for this registration (docs/protocol.md §14.1)."""
        reg = self._store.active_registration(msg.card_id)
        if reg is None or reg.box_id != conn.box_id:
            raise Refused(ErrorCode.UNKNOWN_CARD, f"card {msg.card_id} is not registered at this box")
        if isinstance(msg, wire_vm.VoicemailPin):
            return self._check_pin(conn, reg.registration_id, reg.account_id, msg, now)
        rid = reg.registration_id
        if isinstance(msg, wire_vm.VoicemailList) and conn.mailbox_open.get(rid):
            del conn.mailbox_open[rid]  # a session listed already: this list starts the next one
        locked = rid not in conn.mailbox_open and voicemail.pin_hash_of(self._store, reg.account_id) != ""
        if isinstance(msg, wire_vm.VoicemailList):
            if locked:
                return wire_vm.VoicemailListed(card_id=msg.card_id, pin_required=True)
            if rid in conn.mailbox_open:
                conn.mailbox_open[rid] = True
            return voicemail.listing(self._store, reg.account_id, msg.card_id)
        if locked:
            raise Refused(ErrorCode.FORBIDDEN, "the voicemail PIN was not given")
        if isinstance(msg, wire_vm.VoicemailGreeting):
            voicemail.greeting_piece(self._store, reg.account_id, msg, now)
            return Ok()
        rec = self._store.get_voicemail(msg.message_id)
        if rec is None or rec.account_id != reg.account_id or rec.state not in voicemail.STATES:
            raise Refused(ErrorCode.FORBIDDEN, f"no message {msg.message_id} for this holder")
        if isinstance(msg, wire_vm.VoicemailFetch):
            return voicemail.piece(self._store, msg.message_id, msg.seq)
        if msg.action is wire_vm.MarkAction.DELETE:
            voicemail.delete(self._store, msg.message_id, now)
        else:
            voicemail.set_state(self._store, msg.message_id, "saved", now)
        log.info("voicemail-marked", extra={"fields": {"box": conn.box_id, "message": msg.message_id,
                                                       "action": msg.action.value}})
        return Ok()

    def _check_pin(self, conn: _Conn, registration_id: str, account_id: str, msg: wire_vm.VoicemailPin,
                   now: float) -> wire_vm.VoicemailPinChecked:
        """The PIN keyed at ``*98`` against the account's hash; PIN_LOCK_AFTER wrong in a row (on any box)
        lock the account's mailbox for PIN_LOCK_S, the right PIN included (no hash is computed then)."""
        wrong, until = self._pin_failures.get(account_id, (0, 0.0))
        result = wire_vm.PinResult.OK
        if now < until:
            result = wire_vm.PinResult.LOCKED
        else:
            pin_hash = voicemail.pin_hash_of(self._store, account_id)
            if pin_hash and not wire_profile.check_pin(msg.pin, pin_hash):
                wrong += 1
                locked = wrong >= PIN_LOCK_AFTER
                self._pin_failures[account_id] = (0 if locked else wrong, now + PIN_LOCK_S if locked else 0.0)
                result = wire_vm.PinResult.LOCKED if locked else wire_vm.PinResult.WRONG
            else:
                self._pin_failures.pop(account_id, None)
                conn.mailbox_open[registration_id] = False  # open for the session's (next) listing
        log.info("voicemail-pin", extra={"fields": {"box": conn.box_id, "account": account_id,
                                                    "result": result.value}})
        return wire_vm.VoicemailPinChecked(card_id=msg.card_id, result=result)

    def _check_box_standing(self, conn: _Conn, now: float, out: list[Action]) -> None:
        assert conn.box_id is not None
        box = self._store.get_box(conn.box_id)
        if box is None or box.revoked:
            with self._store.transaction():
                self._end_all_at(conn.box_id, now, "box-revoked")
                self._store.add_event(now, "box-refused", {"box": conn.box_id})
            out.append(Outgoing(conn.conn_id, Revoked(kind=RevokedKind.BOX, id=conn.box_id)))
            raise Refused(ErrorCode.REVOKED, f"box {conn.box_id} is revoked", close=True)

    # --- nonces --------------------------------------------------------------------------------------

    def _nonce(self, conn: _Conn, msg: NonceRequest, now: float) -> NonceIssued:
        if msg.purpose is NoncePurpose.REGISTER and conn.state is not ConnState.AUTHENTICATED:
            raise Refused(ErrorCode.NOT_AUTHENTICATED, "a registration nonce needs a verified hello first")
        if len(conn.outstanding) >= self._config.max_live_nonces:
            for value in [v for v in conn.outstanding if self._nonces[v].expires <= now]:
                conn.outstanding.discard(value)
                del self._nonces[value]
            if len(conn.outstanding) >= self._config.max_live_nonces:
                raise Refused(ErrorCode.FORBIDDEN, "too many outstanding nonces on this connection")
        value = self._random(self._config.nonce_bytes)
        if value in self._nonces:
            raise UsageError("the random source repeated a nonce")
        self._nonces[value] = _IssuedNonce(conn.conn_id, msg.purpose, now, now + self._config.nonce_ttl_s)
        conn.outstanding.add(value)
        return NonceIssued(nonce=value, expires_in=self._config.nonce_ttl_s, purpose=msg.purpose)

    def _take_nonce(self, conn: _Conn, value: bytes, purpose: NoncePurpose, now: float) -> _IssuedNonce:
        """Burn the nonce and check it was fit for this use; Refused(stale-nonce) otherwise.

        Burnt on first presentation whatever the outcome, also when presented on another connection.
        """
        rec = self._nonces.pop(value, None)
        if rec is None:
            raise Refused(ErrorCode.STALE_NONCE, "nonce unknown, already used or long expired")
        owner = self._conns.get(rec.conn_id)
        if owner is not None:
            owner.outstanding.discard(value)
        if rec.conn_id != conn.conn_id:
            raise Refused(ErrorCode.STALE_NONCE, "nonce was issued to another connection")
        if rec.purpose is not purpose:
            raise Refused(ErrorCode.STALE_NONCE, f"nonce was issued for {rec.purpose}, not {purpose.value}")
        if rec.expires <= now:
            raise Refused(ErrorCode.STALE_NONCE, "nonce has expired")
        return rec

    # --- hello ---------------------------------------------------------------------------------------

    def _hello(self, conn: _Conn, msg: Hello, now: float, out: list[Action]) -> Welcome:
        if conn.state is ConnState.AUTHENTICATED:
            raise Refused(ErrorCode.FORBIDDEN, "hello was already accepted on this connection")
        nonce = self._take_nonce(conn, msg.nonce, NoncePurpose.HELLO, now)  # burnt whatever follows
        if identity.claimed_role(msg.cert_pem) is identity.Role.INSTALLER:
            return self._installer_hello(conn, msg, now)
        with self._store.transaction():
            ident = identity.verify_certificate(msg.cert_pem, self._ca.certificate, now=now,
                                                role=identity.Role.BOX)
            box = self._store.get_box(ident.id)
            if box is None:
                raise Refused(ErrorCode.UNKNOWN_BOX, f"box {ident.id} is not enrolled")
            if _fingerprint(box.cert_pem) != ident.fingerprint:
                raise Refused(ErrorCode.UNKNOWN_BOX, f"box {ident.id}: certificate is not the one enrolled")
            if box.revoked:
                raise Refused(ErrorCode.REVOKED, f"box {ident.id} is revoked")
            signing.verify_hello(ident.public_key, msg.signature, nonce=msg.nonce, box_id=ident.id)
            self._store.add_event(now, "box-hello", {"box": ident.id, "conn": conn.conn_id,
                                                      "nonce_issued": nonce.issued, "software": msg.software})
        conn.step("hello-ok")
        conn.box_id = ident.id
        old = self._box_conn.get(ident.id)
        if old is not None and old != conn.conn_id:
            # the box reconnected (NAT rebinding, restart): the newest proven connection is the box
            bye = Error(code=ErrorCode.FORBIDDEN, message="replaced by a newer connection")
            out.append(Outgoing(old, bye, close=True))
        self._box_conn[ident.id] = conn.conn_id
        log.info("box-hello", extra={"fields": {"box": ident.id, "conn": conn.conn_id}})
        return Welcome(box_id=ident.id, server_time=now, lease_s=self._config.lease_s,
                       keepalive_s=self._config.keepalive_s, peer_address=conn.peer)

    # --- location ------------------------------------------------------------------------------------

    def _location(self, conn: _Conn, msg: LocationUnconfirmed | LocationConfirmed, now: float) -> Ok:
        """The box's location state on its record (``where`` shows it) and an event of who did what."""
        assert conn.box_id is not None
        with self._store.transaction():
            box = self._store.get_box(conn.box_id)
            assert box is not None  # _check_box_standing ran
            record = dict(box.location or {})
            if isinstance(msg, LocationUnconfirmed):
                snapshot = _checked_snapshot(msg.location)
                record.update(state="unconfirmed",
                              unconfirmed={"at": msg.at, "reason": msg.reason[:200],
                                           "distance_m": msg.distance_m, "geo": (snapshot or {}).get("geo"),
                                           "network": (snapshot or {}).get("network")})
                event = {"box": box.box_id, "reason": msg.reason[:200], "at": msg.at}
            else:
                try:
                    chosen = civic.check_civic(msg.civic)
                except WireUsageError as exc:
                    raise Refused(ErrorCode.BAD_BODY, f"location.confirmed: {exc}") from None
                by = msg.by[:64]
                # who: the account of the card, if that card is registered at this box now (a box
                # cannot name another box's holder); None for "handset" (no card in)
                reg = self._store.active_registration(by) if by != "handset" else None
                holder = reg.account_id if reg is not None and reg.box_id == box.box_id else None
                record.update(state="confirmed", civic=chosen,
                              confirmed={"at": msg.at, "by": by, "holder": holder, "address": msg.address})
                record.pop("unconfirmed", None)
                event = {"box": box.box_id, "by": by, "holder": holder, "address": msg.address,
                         "civic": chosen, "at": msg.at}
            self._store.put_box(replace(box, location=record))
            self._store.add_event(now, msg.TYPE.replace(".", "-"), event)
        log.info(msg.TYPE, extra={"fields": {"box": conn.box_id}})
        return Ok()

    def _resolve_service(self, conn: _Conn, msg: ServiceResolve, now: float) -> ServiceResolved:
        """A location speed-dial (``**1``, ``311``) from a card registered at this box: the nearest
        matching local service (``cloud.local_dial``); the box then places the call to its number."""
        from roamline.cloud import local_dial
        from roamline.wire import profile as wire_profile

        assert conn.box_id is not None
        reg = self._store.active_registration(msg.card_id)
        if reg is None or reg.box_id != conn.box_id or reg.lease_expiry <= now:
            answer = ServiceResolved(code=msg.code, outcome=LocalOutcome.NO_CARD)
        else:
            stored = self._store.get_profile(reg.account_id)
            try:
                profile = wire_profile.parse(stored[0]) if stored is not None else wire_profile.EMPTY
            except wire_profile.ProfileError:
                profile = wire_profile.EMPTY
            box = self._store.get_box(conn.box_id)
            place = local_dial.place_of(reg.location, box.location if box is not None else None, now)
            category = local_dial.category_of(msg.code, profile)
            services = (self._store.services_near(category, place.lat, place.lon)
                        if category is not None and place is not None else [])
            answer = local_dial.resolve(msg.code, profile, services, place)
        log.info("service-resolved", extra={"fields": {"box": conn.box_id, "code": msg.code,
                                                       "outcome": str(answer.outcome),
                                                       "number": answer.number}})
        return answer

    def _installer_hello(self, conn: _Conn, msg: Hello, now: float) -> Welcome:
        """An installer's tool proves its installer certificate (from this CA); Welcome names it."""
        ident = identity.verify_certificate(msg.cert_pem, self._ca.certificate, now=now,
                                            role=identity.Role.INSTALLER)
        signing.verify_hello(ident.public_key, msg.signature, nonce=msg.nonce, box_id=ident.id)
        with self._store.transaction():
            self._store.add_event(now, "installer-hello", {"installer": ident.id, "conn": conn.conn_id,
                                                            "fingerprint": ident.fingerprint})
        conn.step("hello-ok")
        conn.installer_id = ident.id
        log.info("installer-hello", extra={"fields": {"installer": ident.id, "conn": conn.conn_id}})
        return Welcome(box_id=ident.id, server_time=now, lease_s=self._config.lease_s,
                       keepalive_s=self._config.keepalive_s)

    def _box_list(self, conn: _Conn, msg: BoxList) -> BoxListed:
        if conn.installer_id is None:
            raise Refused(ErrorCode.FORBIDDEN, "box-list needs an installer's hello")
        if not 1 <= msg.limit <= 10_000:
            raise Refused(ErrorCode.BAD_BODY, "limit must be 1..10000")
        boxes = self._store.list_boxes(msg.limit)
        return BoxListed(boxes=tuple({"id": b.box_id, "name": b.name, "board": b.board,
                                      "line_number": b.line_number, "location": b.location,
                                      "emergency_contacts": list(b.emergency_contacts),
                                      "revoked": b.revoked, "created": b.created} for b in boxes))

    # --- registrations -------------------------------------------------------------------------------

    def _register(self, conn: _Conn, msg: Register, now: float, out: list[Action]) -> Registered:
        box_id = conn.box_id
        assert box_id is not None
        nonce = self._take_nonce(conn, msg.nonce, NoncePurpose.REGISTER, now)  # burnt whatever follows
        snapshot = _checked_snapshot(msg.location)
        with self._store.transaction():  # the one durable commit of a registration
            ident = identity.verify_certificate(msg.card_cert_pem, self._ca.certificate, now=now,
                                                role=identity.Role.CARD)
            if ident.id != msg.card_id:
                raise Refused(ErrorCode.BAD_CERTIFICATE, f"card id {msg.card_id} is not the certificate's")
            card = self._store.get_card(ident.id)
            if card is None or _fingerprint(card.cert_pem) != ident.fingerprint:
                raise Refused(ErrorCode.UNKNOWN_CARD, f"card {ident.id} is not issued by this registry")
            if card.revoked:
                raise Refused(ErrorCode.REVOKED, f"card {ident.id} is revoked")
            account = self._store.get_account(card.account_id)
            if account is None:
                raise Refused(ErrorCode.FORBIDDEN, f"card {ident.id} is bound to no account")
            signing.verify_registration(ident.public_key, msg.signature, nonce=msg.nonce, box_id=box_id,
                                        card_id=ident.id)
            prev = self._store.active_registration(ident.id)
            if prev is not None and prev.proven_at > nonce.issued:
                raise Refused(ErrorCode.STALE_NONCE, "a newer registration of this card exists")
            if prev is not None:
                reason = "superseded" if prev.box_id != box_id else "renewed"
                self._store.end_registration(prev.registration_id, now, reason)
            reg = Registration(
                registration_id="reg-" + secrets.token_hex(8), card_id=ident.id, box_id=box_id,
                account_id=account.account_id, since=now, lease_expiry=now + self._config.lease_s,
                # the active registration is the card's newest, so its seq is the card's highest
                seq=prev.seq + 1 if prev is not None else self._store.next_seq(ident.id),
                location=snapshot, active=True,
                proven_at=nonce.issued,
            )
            self._store.add_registration(reg)
            self._store.add_event(now, "registered", {"card": ident.id, "box": box_id,
                                                      "registration": reg.registration_id, "seq": reg.seq})
            if prev is not None and prev.box_id != box_id:
                self._store.add_event(now, "superseded", {"card": ident.id, "box": prev.box_id,
                                                          "registration": prev.registration_id, "by": box_id})
            numbers = self._store.numbers_of(account.account_id)
            stored = self._store.get_profile(account.account_id)
        if prev is not None and prev.box_id != box_id:
            gone = Superseded(card_id=ident.id, registration_id=prev.registration_id, at=now)
            self._push(prev.box_id, gone, out)
        log.info("registered", extra={"fields": {"card": ident.id, "box": box_id, "seq": reg.seq}})
        return Registered(
            registration_id=reg.registration_id, card_id=ident.id, account=account.account_id,
            holder=account.name, numbers=tuple(numbers),
            profile=wire_profile.for_box(stored[0]) if stored is not None else {},
            lease_s=self._config.lease_s,
            seq=reg.seq,
        )

    def _deregister(self, conn: _Conn, msg: Deregister, now: float) -> Ok:
        reg = self._store.active_registration(msg.card_id)
        # idempotent, and a box can only end its own registrations
        if reg is not None and reg.box_id == conn.box_id:
            with self._store.transaction():
                self._store.end_registration(reg.registration_id, now, "deregistered")
                self._store.add_event(now, "deregistered", {"card": msg.card_id, "box": conn.box_id})
        return Ok()

    def _refresh(self, conn: _Conn, msg: Refresh, now: float, out: list[Action]) -> Refreshed:
        missing: list[str] = []
        with self._store.transaction():
            for card_id in msg.card_ids:
                reg = self._store.active_registration(card_id)
                if reg is None or reg.box_id != conn.box_id or reg.lease_expiry <= now:
                    missing.append(card_id)
                    continue
                card = self._store.get_card(card_id)
                if card is None or card.revoked:
                    self._store.end_registration(reg.registration_id, now, "card-revoked")
                    out.append(Outgoing(conn.conn_id, Revoked(kind=RevokedKind.CARD, id=card_id)))
                    missing.append(card_id)
                    continue
                self._store.extend_lease(reg.registration_id, now + self._config.lease_s)
        return Refreshed(lease_s=self._config.lease_s, missing=tuple(missing))

    def _deliver(self, conn: _Conn, msg: Deliver, now: float, out: list[Action]) -> Ack:
        assert conn.box_id is not None
        emergency: EmergencyRecord | None = None
        with self._store.transaction():
            if msg.kind == wire_vm.VOICEMAIL_CHUNK_KIND:
                return self._voicemail_chunk(conn.box_id, msg, now)
            fresh = self._store.add_delivery(msg.key, conn.box_id, msg.kind, msg.payload, now)
            call_id = msg.payload.get("call_id")
            if fresh and msg.kind == CALL_RECORD_KIND and isinstance(call_id, str) and 0 < len(call_id) <= 64:
                # the box's side of a call: folded into the call's one record (docs/protocol.md §10.5)
                self._store.merge_call_report(call_id, conn.box_id, msg.payload, now)
            if fresh and msg.kind == wire_emergency.EMERGENCY_CALL_KIND:
                emergency = self._emergency_record(conn.box_id, msg.payload, now)
                if emergency is not None and self._store.add_emergency(emergency):
                    self._store.add_event(now, "emergency-call", {"box": conn.box_id,
                                                                  "call": emergency.call_id,
                                                                  "route": emergency.route})
                else:
                    emergency = None
        if emergency is not None:
            log.warning("emergency-call", extra={"fields": {"box": conn.box_id, "call": emergency.call_id,
                                                            "number": emergency.number,
                                                            "route": emergency.route,
                                                            "contacts": len(emergency.contacts)}})
            out.append(NotifyEmergency(emergency.call_id))
        log.info("delivered", extra={"fields": {"box": conn.box_id, "key": msg.key, "duplicate": not fresh}})
        return Ack(keys=(msg.key,))

    def _voicemail_chunk(self, box_id: str, msg: Deliver, now: float) -> Ack:
        """A piece of a recorded message (cloud.voicemail): its delivery is kept without the audio, which
        goes to the message; acknowledged also when refused (a bad chunk must not block the outbox)."""
        audio = msg.payload.get("audio")
        kept = {**msg.payload, "audio": len(audio) if isinstance(audio, str) else None}
        if self._store.add_delivery(msg.key, box_id, msg.kind, kept, now):
            outcome = voicemail.receive_chunk(self._store, box_id, msg.payload, now)
        else:
            outcome = "duplicate"
        log.info("delivered", extra={"fields": {"box": box_id, "key": msg.key, "voicemail": outcome}})
        return Ack(keys=(msg.key,))

    def _emergency_record(self, box_id: str, payload: dict[str, object],
                          now: float) -> EmergencyRecord | None:
        """The record of an emergency call from the box's report: never refused for a malformed field
        (the field is left empty and named in ``problems``); only a report without a call id is dropped
        (its raw delivery is kept)."""
        try:
            report, problems = wire_emergency.check_report(payload)
        except WireUsageError as exc:
            log.error("emergency-report-unusable", extra={"fields": {"box": box_id, "reason": str(exc)}})
            return None
        box = self._store.get_box(box_id)
        assert box is not None  # _check_box_standing ran
        card_id = report["card_id"] or None
        account_id = holder = None
        if card_id is not None:
            card = self._store.get_card(card_id)
            account = self._store.get_account(card.account_id) if card is not None else None
            if account is not None:
                account_id, holder = account.account_id, account.name
        location = report["location"] if report["location"] is not None else box.location
        return EmergencyRecord(
            call_id=report["call_id"], box_id=box_id, at=report["dialled_at"], received=now,
            number=report["number"], route=report["route"], box_name=box.name, card_id=card_id,
            account_id=account_id, holder=holder, call_back=report["line"] or box.line_number,
            location=location, contacts=box.emergency_contacts,
            notify_state="pending" if box.emergency_contacts else "no-contacts", problems=tuple(problems),
        )

    # --- timers --------------------------------------------------------------------------------------

    def sweep(self, now: float) -> list[Outgoing]:
        """End lapsed leases and registrations of revoked cards/boxes; tell connected boxes."""
        out: list[Outgoing] = []
        with self._store.transaction():
            for reg in self._store.lapsed_registrations(now):
                self._store.end_registration(reg.registration_id, now, "lapsed")
                self._store.add_event(now, "lapsed", {"card": reg.card_id, "box": reg.box_id})
                log.info("lease-lapsed", extra={"fields": {"card": reg.card_id, "box": reg.box_id}})
            for reg in self._store.revoked_registrations():
                box = self._store.get_box(reg.box_id)
                reason = "box-revoked" if box is None or box.revoked else "card-revoked"
                self._store.end_registration(reg.registration_id, now, reason)
                if reason == "card-revoked":
                    self._push(reg.box_id, Revoked(kind=RevokedKind.CARD, id=reg.card_id), out)
            for box_id, conn_id in list(self._box_conn.items()):
                box = self._store.get_box(box_id)
                if box is None or box.revoked:
                    out.append(Outgoing(conn_id, Revoked(kind=RevokedKind.BOX, id=box_id), close=True))
                    del self._box_conn[box_id]
        out += self.push_profiles()
        for value, rec in list(self._nonces.items()):  # expired and never presented: forget them
            if rec.expires <= now:
                del self._nonces[value]
                owner = self._conns.get(rec.conn_id)
                if owner is not None:
                    owner.outstanding.discard(value)
        return out

    def push_profiles(self) -> list[Outgoing]:
        """Profiles changed since the last look (an operator command wrote the store): push each to the
        boxes where that account's cards are registered now (``profile``, ``seq`` = its version). The
        first look only takes the current version: registrations carried the profile as it was."""
        out: list[Outgoing] = []
        if self._profiles_seen is None:
            self._profiles_seen = self._store.profile_version()
            return out
        for account_id, version in self._store.profiles_changed_since(self._profiles_seen):
            self._profiles_seen = max(self._profiles_seen, version)
            stored = self._store.get_profile(account_id)
            if stored is None:
                continue
            for reg in self._store.active_registrations_for(account_id):
                push = HolderProfile(card_id=reg.card_id, profile=wire_profile.for_box(stored[0]),
                                     seq=version)
                self._push(reg.box_id, push, out)
            log.info("profile-pushed", extra={"fields": {"account": account_id, "version": version}})
        return out

    def next_deadline(self, now: float) -> float:
        """When sweep() should run next: the earliest lease expiry, or one sweep interval from now."""
        soonest = now + self._config.sweep_s
        lease = self._store.earliest_lease_expiry()
        return soonest if lease is None else max(now, min(soonest, lease))

    # --- queries -------------------------------------------------------------------------------------

    def where(self, number: str, now: float) -> list[WhereEntry]:
        return where(self._store, number, now)

    # --- helpers -------------------------------------------------------------------------------------

    def _push(self, box_id: str, message: Message, out: list[Outgoing] | list[Action]) -> None:
        conn_id = self._box_conn.get(box_id)
        if conn_id is not None:
            out.append(Outgoing(conn_id, message))
        else:
            log.info("push-undeliverable", extra={"fields": {"box": box_id, "type": message.TYPE}})

    def _end_all_at(self, box_id: str, now: float, reason: str) -> None:
        for reg in self._store.active_registrations_at(box_id):
            self._store.end_registration(reg.registration_id, now, reason)


@functools.lru_cache(maxsize=4096)  # stored PEMs repeat (every registration of a card parsed it again)
def _fingerprint(cert_pem: str) -> str:
    from cryptography.hazmat.primitives import hashes

    return identity.load_certificate(cert_pem).fingerprint(hashes.SHA256()).hex()


def _checked_snapshot(location: dict[str, object] | None) -> dict[str, object] | None:
    """A box's location snapshot (wire.location), or Refused bad-body."""
    if location is None:
        return None
    try:
        return wire_location.check_snapshot(location)
    except WireUsageError as exc:
        raise Refused(ErrorCode.BAD_BODY, f"location: {exc}") from None
