"""Sans-I/O link session core: request ids, pending replies, deadlines, keep-alive, handshake gate, backoff.

The asyncio adapters in ``roamline.wire.quic`` own futures and sockets; everything that decides *when*
lives here and takes ``now`` (monotonic seconds), so it runs on a virtual clock in tests.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

from roamline.wire.errors import ErrorCode, LinkError, UsageError
from roamline.wire.framing import Frame
from roamline.wire.messages import ALLOWED_BEFORE_HELLO, Envelope, Error, Message, to_frame

# --- events ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """Base of the session core's events."""


@dataclass(frozen=True, slots=True)
class ReplyReceived(SessionEvent):
    """A reply (or ``error``) to one of our requests."""

    request_id: str
    envelope: Envelope


@dataclass(frozen=True, slots=True)
class Incoming(SessionEvent):
    """A request or push from the peer (the application answers requests)."""

    envelope: Envelope


@dataclass(frozen=True, slots=True)
class StrayReply(SessionEvent):
    """A reply to no pending request (late after a timeout, or bogus): logged and dropped."""

    envelope: Envelope


@dataclass(frozen=True, slots=True)
class RequestTimedOut(SessionEvent):
    request_id: str
    type: str


@dataclass(frozen=True, slots=True)
class KeepaliveDue(SessionEvent):
    """Nothing was sent for keepalive_s: send a ``ping`` request."""


@dataclass(frozen=True, slots=True)
class PeerSilent(SessionEvent):
    """Nothing was received for dead_after_s: the link is dead; close it and reconnect."""


@dataclass(frozen=True, slots=True)
class _Pending:
    type: str
    deadline: float


# --- request tracker -------------------------------------------------------------------------------


class RequestTracker:
    """Request ids, pending replies with deadlines, and keep-alive/liveness timers for one link.

    Call ``start_request`` to send a request, ``note_sent`` for anything else sent, ``on_envelope`` for
    every decoded message, and ``poll(now)`` at (or after) ``next_deadline(now)``.
    """

    def __init__(
        self,
        *,
        now: float,
        id_prefix: str = "",
        keepalive_s: float | None = None,
        dead_after_s: float | None = None,
        max_pending: int = 256,
    ) -> None:
        if keepalive_s is not None and keepalive_s <= 0:
            raise UsageError("keepalive_s must be positive")
        if dead_after_s is not None and dead_after_s <= 0:
            raise UsageError("dead_after_s must be positive")
        self._prefix = id_prefix
        self._counter = itertools.count(1)
        self._pending: dict[str, _Pending] = {}
        self._keepalive = keepalive_s
        self._dead_after = dead_after_s
        self._max_pending = max_pending
        self._last_sent = now
        self._last_received = now
        self._silent_reported = False

    @property
    def pending(self) -> frozenset[str]:
        return frozenset(self._pending)

    def start_request(self, message: Message, *, now: float, timeout: float) -> Frame:
        """Allocate an id, remember the deadline, and return the frame to send."""
        if message.KIND != "request":
            raise UsageError(f"{message.TYPE} is not a request")
        if len(self._pending) >= self._max_pending:
            raise UsageError(f"more than {self._max_pending} requests pending")
        rid = f"{self._prefix}{next(self._counter)}"
        self._pending[rid] = _Pending(message.TYPE, now + timeout)
        self._last_sent = now
        return to_frame(message, id=rid)

    def cancel(self, request_id: str) -> None:
        self._pending.pop(request_id, None)

    def note_sent(self, now: float) -> None:
        self._last_sent = now

    def on_envelope(self, envelope: Envelope, *, now: float) -> SessionEvent:
        self._last_received = now
        self._silent_reported = False
        if envelope.message.KIND == "reply":
            if envelope.re is not None and self._pending.pop(envelope.re, None) is not None:
                return ReplyReceived(envelope.re, envelope)
            if isinstance(envelope.message, Error) and envelope.re is None:
                return Incoming(envelope)  # an error about the stream itself, not about a request
            return StrayReply(envelope)
        return Incoming(envelope)

    def on_bytes_received(self, now: float) -> None:
        """Any traffic proves the peer alive (also traffic that did not complete a frame)."""
        self._last_received = now
        self._silent_reported = False

    def poll(self, now: float) -> list[SessionEvent]:
        events: list[SessionEvent] = []
        for rid, p in list(self._pending.items()):
            if now >= p.deadline:
                del self._pending[rid]
                events.append(RequestTimedOut(rid, p.type))
        if self._keepalive is not None and now >= self._last_sent + self._keepalive:
            self._last_sent = now  # one KeepaliveDue per idle period, even if the caller sends nothing
            events.append(KeepaliveDue())
        if (
            self._dead_after is not None
            and not self._silent_reported
            and now >= self._last_received + self._dead_after
        ):
            self._silent_reported = True
            events.append(PeerSilent())
        return events

    def next_deadline(self, now: float) -> float | None:
        """When ``poll`` next has something to say (None: nothing scheduled). May be <= now."""
        times = [p.deadline for p in self._pending.values()]
        if self._keepalive is not None:
            times.append(self._last_sent + self._keepalive)
        if self._dead_after is not None and not self._silent_reported:
            times.append(self._last_received + self._dead_after)
        return min(times) if times else None


# --- handshake gate (server side) -------------------------------------------------------------------


class HandshakeGate:
    """Server-side rule: before the box's hello is verified, only nonce/hello/enroll/ping are accepted.

    ``check`` raises LinkError(not-authenticated) for anything else; the application calls
    ``authenticated(box_id)`` once hello verified, after which everything passes.
    """

    def __init__(self) -> None:
        self._box_id: str | None = None

    @property
    def box_id(self) -> str | None:
        return self._box_id

    def check(self, envelope: Envelope) -> None:
        if self._box_id is None and envelope.message.TYPE not in ALLOWED_BEFORE_HELLO:
            raise LinkError(
                f"{envelope.message.TYPE} is not accepted before hello", code=ErrorCode.NOT_AUTHENTICATED
            )

    def authenticated(self, box_id: str) -> None:
        if self._box_id is not None and self._box_id != box_id:
            raise UsageError("a connection authenticates one box")
        self._box_id = box_id


# --- reconnect policy ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Backoff:
    """Jittered exponential backoff ("equal jitter"): attempt n waits in [d/2, d], d = min(cap, base·f^n).

    Half the delay is fixed so reconnects never hammer, half random so many boxes do not reconnect in step.
    """

    base_s: float = 0.5
    factor: float = 2.0
    cap_s: float = 60.0

    def delay(self, attempt: int, random: Callable[[], float]) -> float:
        """Seconds to wait before reconnect attempt ``attempt`` (0 = first retry); random() in [0, 1)."""
        if attempt < 0:
            raise UsageError("attempt must be >= 0")
        ceiling = self.cap_s if attempt > 64 else min(self.cap_s, self.base_s * self.factor**attempt)
        return ceiling / 2 + ceiling / 2 * random()
