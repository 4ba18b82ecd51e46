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
    ``authenticated(box_id)`` once hello verified, after which everything passes. With
    ``hello_deadline_s``, a connection that has not authenticated by ``deadline`` is ``overdue`` (the
    adapter closes it: nobody holds a connection open without proving who they are).
    """

    def __init__(self, *, now: float = 0.0, hello_deadline_s: float | None = None) -> None:
        if hello_deadline_s is not None and not hello_deadline_s > 0:
            raise UsageError("hello_deadline_s must be positive")
        self._box_id: str | None = None
        self._deadline = None if hello_deadline_s is None else now + hello_deadline_s
        self.hello_deadline_s = hello_deadline_s

    @property
    def deadline(self) -> float | None:
        """When an unauthenticated connection is cut off (None once authenticated, or with no deadline)."""
        return None if self._box_id is not None else self._deadline

    def overdue(self, now: float) -> bool:
        deadline = self.deadline
        return deadline is not None and now >= deadline

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


class UnauthenticatedBudget:
    """How many not-yet-authenticated connections each source address holds; refuses past ``limit``.

    The server asks ``admit(source)`` before it creates any state for a new connection, calls
    ``opened(source, key)`` once it did, and ``done(key)`` when that connection authenticated or closed
    (idempotent). ``peak`` is the most any one source held at once, ``refused`` the connections turned
    away, ``longest_s`` the longest any connection stayed unauthenticated (when ``now`` is given).
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._by_source: dict[str, set[object]] = {}
        self._source_of: dict[object, str] = {}
        self._since: dict[object, float] = {}
        self.peak = 0
        self.refused = 0
        self.longest_s = 0.0

    def admit(self, source: str) -> bool:
        if len(self._by_source.get(source, ())) >= self.limit:
            self.refused += 1
            return False
        return True

    def opened(self, source: str, key: object, now: float | None = None) -> None:
        held = self._by_source.setdefault(source, set())
        held.add(key)
        self._source_of[key] = source
        if now is not None:
            self._since[key] = now
        self.peak = max(self.peak, len(held))

    def done(self, key: object, now: float | None = None) -> None:
        source = self._source_of.pop(key, None)
        if source is None:
            return
        since = self._since.pop(key, None)
        if since is not None and now is not None:
            self.longest_s = max(self.longest_s, now - since)
        held = self._by_source[source]
        held.discard(key)
        if not held:
            del self._by_source[source]

    def count(self, source: str) -> int:
        return len(self._by_source.get(source, ()))

    @property
    def total(self) -> int:
        """Unauthenticated connections held now, all sources together."""
        return len(self._source_of)


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
