"""Keeps one authenticated link to the registry up: connect, prove the box in ``hello``, reconnect.

The protocol decisions live in ``roamline.wire`` (session core, backoff, signing bytes); this is the thin
asyncio owner around them. The application sees ``request`` (waits for the link to be up), and two
callbacks: ``on_up(welcome)`` after every successful hello, ``on_push(envelope)`` for registry pushes.
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
from roamline.wire.errors import LinkClosed, PeerError
from roamline.wire.link import LinkConnection
from roamline.wire.messages import Envelope, Message, NoncePurpose
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
    ) -> None:
        self._endpoint = endpoint
        self._box = box
        self._on_up = on_up
        self._on_push = on_push
        self._keepalive_s = keepalive_s
        self._timeout = request_timeout_s
        self._backoff = backoff or Backoff()
        self._rand = rand
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
        try:
            await self.wait_up(t)
        except TimeoutError:
            raise LinkClosed("the registry is not reachable") from None
        link = self._link
        if link is None:
            raise LinkClosed("the link went down")
        return await link.request(message, timeout=t)

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                link = await self._connect_and_hello()
            except (PeerError, OSError) as exc:
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
            await asyncio.sleep(max(hold, self._backoff.delay(0, self._rand)))

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
                await self._on_push(envelope)
        finally:
            if not up.done():
                up.cancel()
            # PeerError includes RequestTimeout and LinkClosed
            with contextlib.suppress(asyncio.CancelledError, PeerError):
                await up
