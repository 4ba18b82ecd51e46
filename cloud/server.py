"""The registry's link server: wire.quic's server adapter driving the sans-I/O Registry core.

One task per connection feeds incoming messages to ``Registry.handle`` and delivers what it returns
(the reply on this connection, pushes on other boxes' connections); one sweeper task runs
``Registry.sweep`` at ``Registry.next_deadline`` (lapsed leases, revocations). Store calls are
synchronous SQLite on the event loop: fine on one node (sub-millisecond WAL commits), the place to
move to a thread or PostgreSQL when one node is not enough.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable

from roamline.cloud.errors import UsageError
from roamline.cloud.registry import Outgoing, Registry
from roamline.wire import quic
from roamline.wire.errors import LinkClosed
from roamline.wire.link import LinkConnection
from roamline.wire.messages import Envelope, Welcome

log = logging.getLogger(__name__)

CLOSE_GRACE_S = 0.2
"""Time for a last error/revoked frame to reach the box before the connection is closed."""


class RegistryServer:
    """Owns the QUIC server and the sweeper; ``start()`` then ``close()`` (idempotent)."""

    def __init__(
        self,
        registry: Registry,
        *,
        host: str,
        port: int,
        tls_cert_pem: bytes,
        tls_key_pem: bytes,
        wall: Callable[[], float],
        hello_deadline_s: float | None = 5.0,
        max_unauthenticated_per_source: int | None = 32,
    ) -> None:
        self._registry = registry
        self._hello_deadline_s = hello_deadline_s
        self._max_unauthenticated = max_unauthenticated_per_source
        self._host = host
        self._port = port
        self._cert = tls_cert_pem
        self._key = tls_key_pem
        self._wall = wall
        self._server: quic.LinkServer | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._links: dict[str, LinkConnection] = {}

    @property
    def port(self) -> int:
        if self._server is None:
            raise UsageError("registry server is not started")
        return self._server.port

    @property
    def link_server(self) -> quic.LinkServer:
        """The QUIC link server (its ``budget`` counts unauthenticated connections)."""
        if self._server is None:
            raise UsageError("registry server is not started")
        return self._server

    @property
    def registry(self) -> Registry:
        return self._registry

    async def start(self) -> None:
        if self._server is not None:
            return
        self._server = await quic.serve(
            self._host, self._port, tls_cert_pem=self._cert, tls_key_pem=self._key,
            on_connection=self._serve_connection,
            keepalive_s=None, dead_after_s=self._registry.config.keepalive_s * 4,
            hello_deadline_s=self._hello_deadline_s,
            max_unauthenticated_per_source=self._max_unauthenticated,
        )
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())
        log.info("registry-listening", extra={"fields": {"host": self._host, "port": self.port}})

    async def close(self) -> None:
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            sweeper.cancel()
            try:
                await sweeper
            except asyncio.CancelledError:
                pass
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    async def _serve_connection(self, link: LinkConnection) -> None:
        # random ids: a connection id (nonces are bound to it) must not match one from before a restart
        conn_id = "conn-" + secrets.token_hex(8)
        self._links[conn_id] = link
        self._registry.connection_opened(conn_id, self._wall())
        try:
            async for env in link:
                try:
                    out = self._registry.handle(conn_id, env, self._wall())
                except Exception as exc:  # a bug or a store failure: answer `internal`, keep serving
                    log.exception("registry-handle-failed", extra={"fields": {"type": env.message.TYPE}})
                    if env.id is not None and not link.closed:
                        await link.reply_error(env, exc)
                    continue
                await self._deliver(out, conn_id, env)
        finally:
            self._links.pop(conn_id, None)
            self._registry.connection_closed(conn_id, self._wall())

    async def _deliver(
        self, out: list[Outgoing], conn_id: str | None = None, env: Envelope | None = None
    ) -> None:
        for item in out:
            link = self._links.get(item.conn_id)
            if link is None or link.closed:
                log.info("undeliverable", extra={"fields": {"conn": item.conn_id, "type": item.message.TYPE}})
                continue
            try:
                if isinstance(item.message, Welcome) and item.conn_id == conn_id:
                    link.mark_authenticated(item.message.box_id)
                if env is not None and item.re is not None and item.re == env.id and item.conn_id == conn_id:
                    await link.reply(env, item.message)
                else:
                    await link.send(item.message)
            except LinkClosed:
                continue
            if item.close:
                asyncio.get_running_loop().call_later(CLOSE_GRACE_S, link.close, 0, "closed by registry")

    async def _sweep_forever(self) -> None:
        last = self._wall()
        while True:
            now = self._wall()
            deadline = min(self._registry.next_deadline(now), last + self._registry.config.sweep_s)
            if deadline > now:
                await asyncio.sleep(deadline - now)
                continue
            last = now
            try:
                await self._deliver(self._registry.sweep(now))
            except Exception:  # a failing sweep must not stop later sweeps
                log.exception("sweep-failed")
