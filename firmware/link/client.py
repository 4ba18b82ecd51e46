"""Keeps one authenticated link to the registry up: connect, prove the box in ``hello``, reconnect.

The protocol decisions live in ``roamline.wire`` (session core, backoff, signing bytes); this is the thin
asyncio owner around them. The application sees ``request`` (waits for the link to be up), and two
callbacks: ``on_up(welcome)`` after every successful hello, ``on_push(envelope)`` for registry pushes.

Faults that must not cost the box its link (issue 8):
- a push handler that raises is logged (with its traceback) and the registry is answered with an
  ``error`` (re the push's id if it had one); the link and the other pushes go on;
- a box the registry revoked (its hello refused ``revoked``, or a ``revoked`` push naming this box) says
  so once (``box-revoked``, an error), fails requests at once with ``BoxRevoked`` instead of waiting for
  a link, and tries hello again only every ``revoked_retry_s`` (default an hour) in case an operator
  reinstated it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from roamline.wire import identity, messages, quic, signing
from roamline.wire.errors import BoxRevoked, ErrorCode, LinkClosed, PeerError, RemoteError
from roamline.wire.link import LinkConnection
from roamline.wire.messages import Envelope, Error, Message, NoncePurpose, Revoked, RevokedKind
from roamline.wire.session import Backoff

log = logging.getLogger(__name__)

OnUp = Callable[[messages.Welcome], Coroutine[Any, Any, None]]
OnPush = Callable[[Envelope], Awaitable[None]]
OnDown = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class BoxIdentity:
    """The box's key and certificate (PEM chain) as enrolled; the box id follows from the key."""

    key: identity.PrivateKey
    cert_pem: str

    @property
    def box_id(self) -> str:
        return identity.box_id_for_key(self.key.public_key())


@dataclass(frozen=True, slots=True)
class RegistryEndpoint:
    host: str
    port: int
    server_name: str
    ca_pem: bytes


class LinkClient:
    """Owner of the reconnect loop. ``start``/``stop`` are idempotent; the constructor does no I/O."""

    def __init__(
        self,
        endpoint: RegistryEndpoint,
        box: BoxIdentity,
        *,
        on_up: OnUp,
        on_push: OnPush,
        keepalive_s: float = 15.0,
        request_timeout_s: float = 5.0,
        backoff: Backoff | None = None,
        rand: Callable[[], float] = random.random,
        on_down: OnDown | None = None,
        on_datagram: Callable[[bytes], None] | None = None,
        revoked_retry_s: float = 3600.0,
    ) -> None:
        self._endpoint = endpoint
        self._box = box
        self._on_up = on_up
        self._on_push = on_push
        self._keepalive_s = keepalive_s
        self._timeout = request_timeout_s
        self._backoff = backoff or Backoff()
        self._rand = rand
        self._revoked_retry_s = revoked_retry_s
        self.revoked = False
        """True once the registry refused this box as revoked (cleared by a later successful hello)."""
        self.attempts = 0
        """Connect + hello attempts made."""
        self._tickets = quic.ClientTicketStore()
        self._link: LinkConnection | None = None
        self._up = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._on_down = on_down
        self._on_datagram = on_datagram
        self._hold_s = 0.0  # after drop(retry_after_s=…): wait this long before reconnecting
        self.connects = 0
        self.resumed = 0

    @property
    def is_up(self) -> bool:
        return self._up.is_set()

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="link-client")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if self._link is not None:
            self._link.close(reason="box stopping")
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def drop(self, reason: str = "dropped", retry_after_s: float = 0.0) -> None:
        """Close the current connection (tests, and when the registry revoked us); the loop reconnects,
        after ``retry_after_s`` when given (a revoked box backs off instead of hammering the registry)."""
        self._hold_s = max(self._hold_s, retry_after_s)
        if self._link is not None:
            self._link.close(reason=reason)

    def send_datagram(self, data: bytes) -> bool:
        """Send a media datagram if the link is up (False: dropped, as a lost packet would be)."""
        link = self._link
        if link is None or not self.is_up:
            return False
        try:
            link.send_datagram(data)
        except PeerError:  # LinkClosed included
            return False
        return True

    @property
    def connection(self) -> LinkConnection | None:
        """The current connection while the link is up (to reply to the cloud's requests)."""
        return self._link if self.is_up else None

    async def wait_up(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            await self._up.wait()

    async def request(self, message: Message, timeout: float | None = None) -> Message:  # noqa: ASYNC109
        """Send a request once the link is up; LinkClosed if it is not up within the timeout."""
        t = timeout or self._timeout
        if self.revoked and not self.is_up:
            raise BoxRevoked(REVOKED_REASON)
        try:
            await self.wait_up(t)
        except TimeoutError:
            if self.revoked:
                raise BoxRevoked(REVOKED_REASON) from None
            raise LinkClosed("the registry is not reachable") from None
        link = self._link
        if link is None:
            raise LinkClosed("the link went down")
        return await link.request(message, timeout=t)

    async def _run(self) -> None:
        attempt = 0
        while True:
            self.attempts += 1
            try:
                link = await self._connect_and_hello()
            except (PeerError, OSError) as exc:
                if isinstance(exc, RemoteError) and exc.code == ErrorCode.REVOKED:
                    self._note_revoked(f"hello refused: {exc}")
                    await asyncio.sleep(self._revoked_delay())
                    continue
                delay = self._backoff.delay(attempt, self._rand)
                attempt += 1
                log.warning("link-connect-failed", extra={"fields": {"reason": str(exc), "retry_in_s":
                                                                      round(delay, 2)}})
                await asyncio.sleep(delay)
                continue
            attempt = 0
            try:
                await self._serve(link)
            finally:
                self._up.clear()
                self._link = None
                link.close()
            log.warning("link-down", extra={"fields": {"reason": link.close_reason}})
            if self._on_down is not None:
                with contextlib.suppress(Exception):
                    await self._on_down(link.close_reason)
            hold, self._hold_s = self._hold_s, 0.0
            retry = self._revoked_delay() if self.revoked else self._backoff.delay(0, self._rand)
            await asyncio.sleep(max(hold, retry))

    def _revoked_delay(self) -> float:
        return self._revoked_retry_s * (0.75 + 0.25 * self._rand())

    def _note_revoked(self, why: str) -> None:
        if not self.revoked:
            log.error("box-revoked", extra={"fields": {"box": self._box.box_id, "why": why,
                                                       "retry_in_s": self._revoked_retry_s}})
        else:
            log.info("box-still-revoked", extra={"fields": {"box": self._box.box_id}})
        self.revoked = True

    async def _connect_and_hello(self) -> LinkConnection:
        ep = self._endpoint
        link = await quic.connect(ep.host, ep.port, ca_pem=ep.ca_pem, server_name=ep.server_name,
                                  ticket_store=self._tickets, keepalive_s=self._keepalive_s,
                                  dead_after_s=self._keepalive_s * 3, idle_timeout_s=self._keepalive_s * 4)
        try:
            ask = messages.NonceRequest(purpose=NoncePurpose.HELLO)
            issued = messages.expect(await link.request(ask, timeout=self._timeout), messages.NonceIssued)
            digest = signing.hello_digest(issued.nonce, self._box.box_id)
            signature = identity.sign_digest(self._box.key, digest)
            hello = messages.Hello(cert_pem=self._box.cert_pem, nonce=issued.nonce, signature=signature,
                                   software="roamline/0.1")
            welcome = messages.expect(await link.request(hello, timeout=self._timeout), messages.Welcome)
        except BaseException:
            link.close(reason="hello failed")
            raise
        self.connects += 1
        self.revoked = False
        self.resumed += int(link.session_resumed)
        self._welcome = welcome
        self._link = link
        link.on_datagram = self._on_datagram
        log.info("link-up", extra={"fields": {"box": welcome.box_id, "resumed": link.session_resumed}})
        return link

    async def _serve(self, link: LinkConnection) -> None:
        self._up.set()
        up = asyncio.create_task(self._on_up(self._welcome), name="link-on-up")
        try:
            async for envelope in link:
                msg = envelope.message
                if isinstance(msg, Revoked) and msg.kind is RevokedKind.BOX and msg.id == self._box.box_id:
                    self._note_revoked("the registry pushed revoked")
                try:
                    await self._on_push(envelope)
                except Exception as exc:  # a bug in the handler: never the link's end (issue 8)
                    log.exception("link-push-handler-failed", extra={"fields": {"type": msg.TYPE}})
                    await self._answer_failed_push(link, envelope, exc)
        finally:
            if not up.done():
                up.cancel()
            # PeerError includes RequestTimeout and LinkClosed
            with contextlib.suppress(asyncio.CancelledError, PeerError):
                await up

    @staticmethod
    async def _answer_failed_push(link: LinkConnection, envelope: Envelope, exc: Exception) -> None:
        """Tell the registry the box could not handle a push (re its id if it carried one)."""
        error = Error(code=ErrorCode.INTERNAL,
                      message=f"box could not handle {envelope.message.TYPE}: {type(exc).__name__}")
        with contextlib.suppress(LinkClosed):
            if envelope.id is not None:
                await link.reply(envelope, error)
            else:
                await link.send(error)


REVOKED_REASON = "this box is revoked at the registry: it does not register cards until an operator acts"
