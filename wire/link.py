"""One end of a link, over any transport: request/reply with futures, pushes, keep-alive, closing.

The QUIC specifics live in ``roamline.wire.quic``; this module turns decoded frames into replies and
incoming messages using the sans-I/O :class:`~roamline.wire.session.RequestTracker`, and owns the one
timer task that drives its deadlines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

from roamline.wire.errors import (
    ErrorCode,
    LinkClosed,
    LinkError,
    RemoteError,
    RequestTimeout,
    UsageError,
)
from roamline.wire.framing import Frame, encode
from roamline.wire.messages import Envelope, Error, Message, Ping, Pong, error_for, from_frame, to_frame
from roamline.wire.session import (
    HandshakeGate,
    Incoming,
    KeepaliveDue,
    PeerSilent,
    ReplyReceived,
    RequestTimedOut,
    RequestTracker,
    StrayReply,
)

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0
INCOMING_LIMIT = 256


class Transport(Protocol):
    """What a LinkConnection needs from the connection under it."""

    def write_control(self, data: bytes) -> None: ...

    def send_datagram(self, data: bytes) -> None: ...

    def close_transport(self, code: int, reason: str) -> None: ...

    @property
    def session_resumed(self) -> bool: ...


class LinkConnection:
    """One end of a link. Clients and the server's per-connection peers are both LinkConnections.

    - ``await request(msg, timeout)`` returns the reply message or raises RemoteError (an ``error``
      reply, with its ``code``), RequestTimeout or LinkClosed;
    - ``await send(msg)`` sends a push; ``await reply(env, msg)`` answers an incoming request;
    - ``async for env in conn`` yields incoming requests and pushes (pings are answered here);
    - ``close()`` is idempotent; ``await wait_closed()``.

    On the server side (``gate`` given) nothing but nonce/hello/enroll/ping reaches the application
    until it calls ``mark_authenticated(box_id)``; the rest is answered ``not-authenticated`` here.

    Requests go both ways: the cloud starts requests too (``call.offer``, ``line.answer`` …) once the
    box is authenticated, and the box answers them with ``reply``. A request or push whose ``SENDER`` is
    this end's own side (a ``call.offer`` arriving at the cloud, a ``call.place`` at a box) is answered
    ``forbidden`` and never reaches the application; sending one is a UsageError.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        id_prefix: str,
        keepalive_s: float | None = None,
        dead_after_s: float | None = None,
        gate: HandshakeGate | None = None,
    ) -> None:
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        self._tracker = RequestTracker(
            now=self._loop.time(), id_prefix=id_prefix, keepalive_s=keepalive_s, dead_after_s=dead_after_s
        )
        self._futures: dict[str, asyncio.Future[Envelope]] = {}
        self._incoming: asyncio.Queue[Envelope | None] = asyncio.Queue()
        self._gate = gate
        self._closed = False
        self._closed_event = asyncio.Event()
        self._close_reason = ""
        self._wake = asyncio.Event()
        self._timer_due: float | None = None  # when the timer task will look next on its own (None: never)
        self._timer_task: asyncio.Task[None] | None = self._loop.create_task(self._run_timers())
        self.on_datagram: Callable[[bytes], None] | None = None
        """Called with each QUIC datagram received (media, later)."""
        self.closed_callback: Callable[[LinkConnection], None] | None = None
        """Called once when the link closes (owners drop their reference)."""
        self.authenticated_callback: Callable[[LinkConnection], None] | None = None
        """Server side: called once when ``mark_authenticated`` is first called."""

    # --- state ---------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def close_reason(self) -> str:
        return self._close_reason

    @property
    def session_resumed(self) -> bool:
        return self._transport.session_resumed

    @property
    def peer_address(self) -> str:
        """The peer's address as this end sees it (``host:port``; "" when the transport cannot tell)."""
        return str(getattr(self._transport, "peer_address", "") or "")

    @property
    def box_id(self) -> str | None:
        """Server side: the box id once ``mark_authenticated`` was called."""
        return self._gate.box_id if self._gate is not None else None

    def mark_authenticated(self, box_id: str) -> None:
        if self._gate is None:
            raise UsageError("only a server-side connection authenticates its peer")
        first = self._gate.box_id is None
        self._gate.authenticated(box_id)
        if first and self.authenticated_callback is not None:
            self.authenticated_callback(self)

    # --- sending -------------------------------------------------------------------------------

    @property
    def _side(self) -> str:
        return "cloud" if self._gate is not None else "box"

    @property
    def _peer_side(self) -> str:
        return "box" if self._gate is not None else "cloud"

    def _check_outgoing(self, message: Message) -> None:
        if message.KIND == "reply":
            return
        if message.SENDER not in ("either", self._side):
            raise UsageError(f"{message.TYPE} is sent by the {message.SENDER}, not the {self._side}")
        if self._gate is not None and self._gate.box_id is None:
            raise UsageError(f"{message.TYPE}: the box on this connection is not authenticated yet")

    def _write(self, frame: Frame) -> None:
        if self._closed:
            raise LinkClosed(f"link is closed ({self._close_reason or 'closed'})")
        self._transport.write_control(encode(frame))
        self._tracker.note_sent(self._loop.time())

    async def request(self, message: Message, timeout: float = DEFAULT_TIMEOUT_S) -> Message:  # noqa: ASYNC109
        # The deadline is the sans-I/O tracker's (testable, one timer task), not an asyncio.timeout.
        if self._closed:
            raise LinkClosed(f"link is closed ({self._close_reason or 'closed'})")
        self._check_outgoing(message)
        now = self._loop.time()
        frame = self._tracker.start_request(message, now=now, timeout=timeout)
        assert frame.id is not None
        fut: asyncio.Future[Envelope] = self._loop.create_future()
        self._futures[frame.id] = fut
        try:
            self._write(frame)
            # wake the timer task only if this deadline comes before the one it already sleeps until
            # (waking it per request cost a task step and a new timer handle on every request)
            due = self._timer_due
            if due is None or now + timeout < due:
                self._wake.set()
            env = await fut
        finally:
            self._futures.pop(frame.id, None)
            self._tracker.cancel(frame.id)
        if isinstance(env.message, Error):
            raise RemoteError(
                f"{message.TYPE} refused: {env.message.code}: {env.message.message}", env.message.code
            )
        return env.message

    async def send(self, message: Message) -> None:
        """Send a push (no reply expected)."""
        if message.KIND == "request":
            raise UsageError(f"{message.TYPE} is a request: use request()")
        if self._closed:
            raise LinkClosed(f"link is closed ({self._close_reason or 'closed'})")
        self._check_outgoing(message)
        self._write(to_frame(message))

    async def reply(self, to: Envelope, message: Message) -> None:
        """Answer the request ``to`` with ``message`` (a reply type, or Error)."""
        if to.id is None:
            raise UsageError(f"{to.message.TYPE} carried no id: nothing to answer")
        self._write(to_frame(message, re=to.id))

    async def reply_error(self, to: Envelope | None, exc: Exception) -> None:
        """Answer with the ``error`` that fits ``exc`` (LinkError codes kept; anything else is internal)."""
        self._send_error(error_for(exc), to.id if to is not None else None)

    def send_datagram(self, data: bytes) -> None:
        if self._closed:
            raise LinkClosed("link is closed")
        self._transport.send_datagram(data)

    def _send_error(self, error: Error, re: str | None) -> None:
        if not self._closed:
            self._write(to_frame(error, re=re))

    # --- receiving (called by the transport) -----------------------------------------------------

    def frame_received(self, frame: Frame) -> None:
        now = self._loop.time()
        try:
            env = from_frame(frame)
            if env.message.KIND != "reply":
                if self._gate is not None:
                    self._gate.check(env)
                if env.message.SENDER not in ("either", self._peer_side):
                    raise LinkError(
                        f"{env.message.TYPE} is sent by the {env.message.SENDER}, not the {self._peer_side}",
                        code=ErrorCode.FORBIDDEN,
                    )
        except LinkError as exc:
            log.info("link-message-refused", extra={"fields": {"type": frame.type, "code": str(exc.code)}})
            self._tracker.on_bytes_received(now)
            self._send_error(error_for(exc), frame.id)
            return
        event = self._tracker.on_envelope(env, now=now)
        if isinstance(event, ReplyReceived):
            fut = self._futures.get(event.request_id)
            if fut is not None and not fut.done():
                fut.set_result(event.envelope)
        elif isinstance(event, StrayReply):
            log.debug("link-stray-reply", extra={"fields": {"type": frame.type, "re": frame.re}})
        elif isinstance(event, Incoming):
            if isinstance(env.message, Ping) and env.id is not None:
                self._write(to_frame(Pong(), re=env.id))
            elif self._incoming.qsize() >= INCOMING_LIMIT:
                self._send_error(
                    Error(code=ErrorCode.INTERNAL, message="too many unhandled messages"), env.id
                )
                self.close(reason="incoming queue overflow")
            else:
                self._incoming.put_nowait(env)

    def bytes_received(self) -> None:
        self._tracker.on_bytes_received(self._loop.time())

    def datagram_received(self, data: bytes) -> None:
        if self.on_datagram is not None:
            self.on_datagram(data)

    def transport_closed(self, reason: str) -> None:
        """The connection under us ended (or the control stream died)."""
        self._finish(reason)

    # --- incoming iteration --------------------------------------------------------------------

    def __aiter__(self) -> LinkConnection:
        return self

    async def __anext__(self) -> Envelope:
        item = await self._incoming.get()
        if item is None:
            self._incoming.put_nowait(None)  # let other iterators end too
            raise StopAsyncIteration
        return item

    async def next_incoming(self) -> Envelope:
        """The next incoming request/push; LinkClosed if the link ends first."""
        try:
            return await self.__anext__()
        except StopAsyncIteration:
            raise LinkClosed(f"link closed ({self._close_reason})") from None

    # --- timers and closing --------------------------------------------------------------------

    async def _run_timers(self) -> None:
        while not self._closed:
            now = self._loop.time()
            if self._gate is not None and self._gate.overdue(now):
                self._hello_overdue()
                return
            deadline = self._tracker.next_deadline(now)
            if self._gate is not None and self._gate.deadline is not None:
                deadline = self._gate.deadline if deadline is None else min(deadline, self._gate.deadline)
            self._wake.clear()
            if deadline is None or deadline > now:
                self._timer_due = deadline
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(None if deadline is None else deadline - now):
                        await self._wake.wait()
                self._timer_due = None
                continue
            for event in self._tracker.poll(self._loop.time()):
                if isinstance(event, RequestTimedOut):
                    fut = self._futures.get(event.request_id)
                    if fut is not None and not fut.done():
                        fut.set_exception(RequestTimeout(f"no reply to {event.type} in time"))
                elif isinstance(event, KeepaliveDue):
                    frame = self._tracker.start_request(
                        Ping(), now=self._loop.time(), timeout=DEFAULT_TIMEOUT_S
                    )
                    with contextlib.suppress(LinkClosed):
                        self._write(frame)
                elif isinstance(event, PeerSilent):
                    log.warning("link-peer-silent")
                    self.close(code=0, reason="peer silent")

    def _hello_overdue(self) -> None:
        assert self._gate is not None
        limit = self._gate.hello_deadline_s
        log.info("link-hello-overdue", extra={"fields": {"deadline_s": limit}})
        with contextlib.suppress(LinkClosed):  # no control stream yet: nothing to write the error on
            error = Error(code=ErrorCode.NOT_AUTHENTICATED, message=f"no hello within {limit} s")
            self._send_error(error, None)
        self.close(code=0, reason="no hello in time")

    def close(self, code: int = 0, reason: str = "") -> None:
        """Close the link (idempotent). Pending requests fail with LinkClosed."""
        if self._closed:
            return
        self._transport.close_transport(code, reason)
        self._finish(reason or "closed locally")

    def _finish(self, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        self._close_reason = reason
        for fut in self._futures.values():
            if not fut.done():
                fut.set_exception(LinkClosed(f"link closed ({reason})"))
        self._incoming.put_nowait(None)
        self._closed_event.set()
        if self.closed_callback is not None:
            self.closed_callback(self)
        task, self._timer_task = self._timer_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def wait_closed(self) -> None:
        await self._closed_event.wait()
