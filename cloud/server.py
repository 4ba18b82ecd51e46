"""The registry's link server: wire.quic's server adapter driving the sans-I/O Registry, Router and Relay.

One task per connection feeds incoming messages to ``Registry.handle`` and delivers what it returns
(the reply on this connection, pushes on other boxes' connections); one sweeper task runs
``Registry.sweep`` at ``Registry.next_deadline`` (lapsed leases, revocations). Registry store calls are
synchronous SQLite on the event loop: fine on one node (sub-millisecond WAL commits), the place to
move to a thread or PostgreSQL when one node is not enough.

Calls (when ``calls`` is given): call messages (``line.*``, ``call.*``, ``media.*``) go to the
:class:`~roamline.cloud.router.Router`, which runs on one worker thread with a store connection of its
own, so its store work (lookups, call records) never runs on the event loop that carries media. The
router's actions come back to the loop: replies and pushes are sent, requests it starts run as tasks
whose replies go back to it, and relay instructions are applied to the
:class:`~roamline.cloud.relay.Relay`, which forwards every media datagram on the loop itself. One call
task ticks the relay's silence check and the router's timers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import functools
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from roamline.cloud.errors import UsageError
from roamline.cloud.notify import EmergencyNotifier
from roamline.cloud.records import RegistryStore
from roamline.cloud.registry import Action as RegistryAction
from roamline.cloud.registry import NotifyEmergency, Outgoing, Registry
from roamline.cloud.relay import Relay, RelayConfig
from roamline.cloud.router import (
    SOS_CONN_PREFIX,
    Action,
    Bind,
    Bridge,
    Request,
    Router,
    RouterConfig,
    Send,
    SosCallbackAnswer,
    SosCallbackHangup,
    SosCallbackRefuse,
    SosCallbackRing,
    SosDial,
    SosHangup,
    Unbridge,
    sos_conn,
)
from roamline.cloud.sos_gateway import PeerTrust, SosGateway, TlsSetup
from roamline.cloud.sos_uac import Event as SosEvent
from roamline.cloud.sos_uas import CallbackSource
from roamline.cloud.sos_uas import Event as CallbackEvent
from roamline.wire import calls as call_messages
from roamline.wire import identity, quic
from roamline.wire.errors import LinkClosed, PeerError
from roamline.wire.link import LinkConnection
from roamline.wire.media import decode_varint, encode_varint
from roamline.wire.messages import Envelope, Welcome

_T = TypeVar("_T")

CALL_TYPES: frozenset[str] = frozenset(
    cls.TYPE for cls in call_messages.CALL_MESSAGES if cls.KIND != "reply" and cls.SENDER != "cloud"
)
"""Message types a box sends that the router handles."""


@dataclass(frozen=True, slots=True)
class CallSetup:
    """What the server needs to route calls: a store of the router's own (opened and used on the
    router's worker thread only; the same database as the registry's), and the cores' settings."""

    store: RegistryStore
    router: RouterConfig = field(default_factory=RouterConfig)
    relay: RelayConfig = field(default_factory=RelayConfig)
    tick_s: float = 0.5  # relay silence checks and router timers
    grant_key: identity.PrivateKey | None = None  # the CA key: signs host-line rights into line.dial
    sos_host: str | None = None  # the emergency route's SIP/RTP address (None: the server's --host)
    sos_port: int = 0  # its SIP UDP port (0: any free port; `sip_address` tells which)
    sos_tls: TlsSetup | None = None  # SIP over TLS (client_cas: filled from the directory at start)

log = logging.getLogger(__name__)

CA_REFRESH_S = 5.0
"""How often the SIP-over-TLS listener re-reads the answering-point directory's CAs (seconds)."""

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
        calls: CallSetup | None = None,
        hello_deadline_s: float | None = 5.0,
        max_unauthenticated_per_source: int | None = 32,
        notifier: EmergencyNotifier | None = None,
    ) -> None:
        self._registry = registry
        self.notifier = notifier
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
        self._calls = calls
        self._router: Router | None = None
        self.relay: Relay | None = Relay(calls.relay) if calls is not None else None
        self._worker: concurrent.futures.ThreadPoolExecutor | None = None
        self._call_tasks: set[asyncio.Task[None]] = set()
        self._ticker: asyncio.Task[None] | None = None
        self.recovered: list[str] = []
        """Call ids whose records the router closed at start (calls of a previous process)."""
        self.sos: SosGateway | None = None
        self._sos_flows: dict[str, int] = {}  # emergency call id → the relay flow of its SIP leg
        self._cb_sip: dict[str, str] = {}  # an answering point's call-back: router call id → SIP Call-ID
        self._cb_call: dict[str, str] = {}  # and back
        self._sos_cas = ""  # the directory's CAs the SIP-over-TLS listener trusts now

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

    @property
    def router(self) -> Router:
        if self._router is None:
            raise UsageError("the server routes no calls (started without calls=CallSetup(...))")
        return self._router

    async def _in_router(self, fn: Callable[..., _T], *args: object) -> _T:
        """Run ``fn`` (a router call) on the router's worker thread."""
        assert self._worker is not None
        return await asyncio.get_running_loop().run_in_executor(self._worker, fn, *args)

    async def start(self) -> None:
        if self._server is not None:
            return
        if self.notifier is not None:
            self.notifier.open()
            await self.notifier.resume()  # emergency notifications a previous process left unsent
        if self._calls is not None and self._worker is None:
            self._worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="router")
            setup = self._calls

            def make_router() -> tuple[Router, list[str]]:
                setup.store.open()
                router = Router(setup.store, setup.router, grant_key=setup.grant_key)
                return router, router.recover(self._wall())

            self._router, self.recovered = await self._in_router(make_router)
            tls = setup.sos_tls
            if tls is not None:  # call-backs' client certificates: verified against the directory's CAs
                self._sos_cas = await self._in_router(self._directory_cas)
                tls = dataclasses.replace(tls, client_cas=tls.client_cas + self._sos_cas)
            self.sos = SosGateway(host=setup.sos_host or self._host, sip_port=setup.sos_port,
                                  on_event=self._sos_event, on_media=self._sos_media,
                                  on_callback=self._sos_callback_in,
                                  on_callback_event=self._sos_callback_event, tls=tls)
            await self.sos.open()
            self._ticker = asyncio.get_running_loop().create_task(self._tick_calls())
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
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.cancel()
            try:
                await ticker
            except asyncio.CancelledError:
                pass
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
        for task in list(self._call_tasks):
            task.cancel()
        if self._call_tasks:
            await asyncio.gather(*self._call_tasks, return_exceptions=True)
        sos, self.sos = self.sos, None
        if sos is not None:
            await sos.close()
        if self.notifier is not None:
            await self.notifier.close()
        worker, self._worker = self._worker, None
        if worker is not None:
            if self._calls is not None:
                await asyncio.get_running_loop().run_in_executor(worker, self._calls.store.close)
            worker.shutdown(wait=True)
            self._router = None

    async def _serve_connection(self, link: LinkConnection) -> None:
        # random ids: a connection id (nonces are bound to it) must not match one from before a restart
        conn_id = "conn-" + secrets.token_hex(8)
        self._links[conn_id] = link
        self._registry.connection_opened(conn_id, self._wall(), peer=link.peer_address)
        relay = self.relay
        if relay is not None:
            loop = asyncio.get_running_loop()
            links = self._links

            def media_in(data: bytes) -> None:
                out = relay.datagram(conn_id, data, loop.time())
                if out is not None:
                    peer = links.get(out[0])
                    if peer is not None and not peer.closed:
                        peer.send_datagram(out[1])
                    elif out[0].startswith(SOS_CONN_PREFIX) and self.sos is not None:
                        _, rtp_at = decode_varint(out[1])  # the answering point gets the RTP as sent
                        sos_call = out[0][len(SOS_CONN_PREFIX):]
                        cb_sip = self._cb_sip.get(sos_call)
                        if cb_sip is not None:
                            self.sos.callback_media(cb_sip, out[1][rtp_at:])
                        else:
                            self.sos.send_media(sos_call, out[1][rtp_at:])

            link.on_datagram = media_in
        routed_box: str | None = None
        try:
            async for env in link:
                if env.message.TYPE in CALL_TYPES and self._router is not None:
                    box_id = link.box_id
                    assert box_id is not None  # the gate lets no call message through before hello
                    try:
                        actions = await self._in_router(
                            self._router.handle, conn_id, box_id, env, self._wall())
                    except Exception as exc:
                        log.exception("router-failed", extra={"fields": {"type": env.message.TYPE}})
                        if env.id is not None and not link.closed:
                            await link.reply_error(env, exc)
                        continue
                    await self._apply(actions)
                    continue
                try:
                    out = self._registry.handle(conn_id, env, self._wall())
                except Exception as exc:  # a bug or a store failure: answer `internal`, keep serving
                    log.exception("registry-handle-failed", extra={"fields": {"type": env.message.TYPE}})
                    if env.id is not None and not link.closed:
                        await link.reply_error(env, exc)
                    continue
                await self._deliver(out, conn_id, env)
                if routed_box is None and link.box_id is not None and self._router is not None:
                    routed_box = link.box_id
                    await self._apply(
                        await self._in_router(self._router.box_connected, routed_box, conn_id, self._wall())
                    )
        finally:
            self._links.pop(conn_id, None)
            self._registry.connection_closed(conn_id, self._wall())
            if self.relay is not None:
                self.relay.connection_closed(conn_id)
            if routed_box is not None and self._router is not None and self._worker is not None:
                try:
                    actions = await self._in_router(
                        self._router.box_disconnected, routed_box, conn_id, self._wall())
                    await self._apply(actions)
                except RuntimeError:  # the worker is shutting down with the server
                    pass

    # --- calls -------------------------------------------------------------------------------------

    async def _apply(self, actions: list[Action]) -> None:
        """Carry out what the router asked for, on the loop."""
        loop_now = asyncio.get_running_loop().time()
        relay = self.relay
        for action in actions:
            if isinstance(action, Send):
                link = self._links.get(action.conn_id)
                if link is None or link.closed:
                    continue
                try:
                    if action.re is not None:
                        await link.reply(Envelope(message=action.message, id=action.re), action.message)
                    else:
                        await link.send(action.message)
                except LinkClosed:
                    continue
            elif isinstance(action, Request):
                task = asyncio.get_running_loop().create_task(self._run_request(action))
                self._call_tasks.add(task)
                task.add_done_callback(self._call_tasks.discard)
            elif relay is not None and isinstance(action, Bridge):
                relay.bridge(action.call_id, action.a, action.conn_a, action.b, action.conn_b, loop_now)
            elif relay is not None and isinstance(action, Bind):
                relay.bind(action.flow_id, action.conn_id, loop_now)
            elif relay is not None and isinstance(action, Unbridge):
                relay.unbridge(action.call_id)
                self._sos_flows.pop(action.call_id, None)
                cb_sip = self._cb_sip.pop(action.call_id, None)
                if cb_sip is not None:
                    self._cb_call.pop(cb_sip, None)
            elif isinstance(action, SosDial):
                self._sos_flows[action.call_id] = action.flow_id
                task = asyncio.get_running_loop().create_task(self._sos_dial(action))
                self._call_tasks.add(task)
                task.add_done_callback(self._call_tasks.discard)
            elif isinstance(action, SosHangup) and self.sos is not None:
                self.sos.hangup(action.call_id)
            elif isinstance(action, SosCallbackRing) and self.sos is not None:
                self._cb_sip[action.call_id] = action.sip_id
                self._cb_call[action.sip_id] = action.call_id
                self._sos_flows[action.call_id] = action.flow_id
                self.sos.callback_ring(action.sip_id)
            elif isinstance(action, SosCallbackRefuse) and self.sos is not None:
                self.sos.callback_refuse(action.sip_id, action.status, action.reason)
            elif isinstance(action, SosCallbackAnswer) and self.sos is not None:
                cb_sip = self._cb_sip.get(action.call_id)
                if cb_sip is not None:
                    task = asyncio.get_running_loop().create_task(self.sos.callback_answer(cb_sip))
                    self._call_tasks.add(task)
                    task.add_done_callback(self._call_tasks.discard)
            elif isinstance(action, SosCallbackHangup) and self.sos is not None:
                cb_sip = self._cb_sip.get(action.call_id)
                if cb_sip is not None:
                    self.sos.callback_hangup(cb_sip)

    # --- the emergency route's SIP leg -------------------------------------------------------------

    async def _sos_dial(self, action: SosDial) -> None:
        try:
            if self.sos is None:
                raise UsageError("the emergency SIP gateway is not open")
            await self.sos.dial(call_id=action.call_id, psap_uri=action.psap_uri, call_back=action.call_back,
                                box_id=action.box_id, pidf=action.pidf,
                                trust=PeerTrust(action.tls_ca, action.tls_fingerprint))
        except Exception:  # an unusable URI, no socket: the call fails now (the box is told)
            log.exception("sos-dial-failed", extra={"fields": {"call": action.call_id}})
            self._sos_event(action.call_id, SosEvent("failed", status=0, reason="dial failed"))

    def _sos_event(self, call_id: str, event: SosEvent) -> None:
        router = self._router
        if router is None:
            return

        async def feed() -> None:
            actions = await self._in_router(router.sos_event, call_id, event.kind, event.status, self._wall())
            await self._apply(actions)

        task = asyncio.get_running_loop().create_task(feed())
        self._call_tasks.add(task)
        task.add_done_callback(self._call_tasks.discard)

    def _sos_callback_in(self, sip_id: str, number: str, caller: str, source: CallbackSource) -> None:
        """An answering point's call-back INVITE: the router decides (source, window, box) in its thread."""
        router = self._router
        if router is None:
            return

        async def feed() -> None:
            actions = await self._in_router(functools.partial(router.sos_callback, source=source),
                                            sip_id, number, caller, self._wall())
            await self._apply(actions)

        task = asyncio.get_running_loop().create_task(feed())
        self._call_tasks.add(task)
        task.add_done_callback(self._call_tasks.discard)

    def _sos_callback_event(self, sip_id: str, event: CallbackEvent) -> None:
        router, call_id = self._router, self._cb_call.get(sip_id)
        if router is None or call_id is None:
            return

        async def feed() -> None:
            actions = await self._in_router(router.sos_callback_event, call_id, event.kind, self._wall())
            await self._apply(actions)

        task = asyncio.get_running_loop().create_task(feed())
        self._call_tasks.add(task)
        task.add_done_callback(self._call_tasks.discard)

    def _sos_media(self, call_id: str, rtp: bytes) -> None:
        if call_id.startswith("cb:"):  # a call-back's media (sos_uas.media_id): by the router's call id
            call_id = self._cb_call.get(call_id[3:], "")
        relay, flow = self.relay, self._sos_flows.get(call_id)
        if relay is None or flow is None:
            return
        out = relay.datagram(sos_conn(call_id), encode_varint(flow) + rtp, asyncio.get_running_loop().time())
        if out is not None:
            peer = self._links.get(out[0])
            if peer is not None and not peer.closed:
                peer.send_datagram(out[1])

    async def _run_request(self, action: Request) -> None:
        router = self._router
        assert router is not None
        link = self._links.get(action.conn_id)
        try:
            if link is None or link.closed:
                raise LinkClosed("the box's link is gone")
            reply = await link.request(action.message, timeout=action.timeout_s)
        except PeerError as exc:  # an error reply, a timeout, a closed link
            fields = {"type": action.message.TYPE, "error": str(exc)}
            log.info("router-request-failed", extra={"fields": fields})
            actions = await self._in_router(router.request_failed, action.ref, self._wall())
        else:
            actions = await self._in_router(router.reply_received, action.ref, reply, self._wall())
        await self._apply(actions)

    def _directory_cas(self) -> str:
        """The answering-point directory's CAs (PEM text; run on the router's thread)."""
        assert self._calls is not None
        return "".join(dict.fromkeys(p.tls_ca for p in self._calls.store.answering_points() if p.tls_ca))

    async def _refresh_sos_cas(self) -> None:
        """A `cloud psap import` while serving: the TLS listener learns the directory's new CAs (a CA no
        longer in the directory stays trusted for the handshake until a restart, but the router refuses
        its call-backs 403: every call-back is checked against the directory as it is now)."""
        cas = await self._in_router(self._directory_cas)
        if cas != self._sos_cas and self.sos is not None:
            self._sos_cas = cas
            self.sos.trust_client_cas(cas)

    async def _tick_calls(self) -> None:
        assert self._calls is not None
        router, relay = self._router, self.relay
        assert router is not None and relay is not None
        loop = asyncio.get_running_loop()

        def tick(silent: list[int], now: float) -> list[Action]:
            return router.media_silent(silent, now) + router.poll(now)

        told = relay.stats.dropped()
        cas_checked = loop.time()
        while True:
            await asyncio.sleep(self._calls.tick_s)
            try:
                actions = await self._in_router(tick, relay.silent(loop.time()), self._wall())
                await self._apply(actions)
                if self._calls.sos_tls is not None and loop.time() - cas_checked >= CA_REFRESH_S:
                    cas_checked = loop.time()
                    await self._refresh_sos_cas()
            except Exception:  # a failing tick must not stop later ticks
                log.exception("call-tick-failed")
            dropped = relay.stats.dropped()
            if dropped != told:  # what the relay refused since the last tick, by kind (totals so far)
                told = dropped
                st = relay.stats
                fields = {"forwarded": st.forwarded, "unknown_flow": st.unknown_flow,
                          "rate_limited": st.rate_limited, "peer_unbound": st.peer_unbound,
                          **{f"malformed_{k.replace('-', '_')}": v for k, v in sorted(st.malformed.items())}}
                log.warning("relay-drops", extra={"fields": fields})

    async def _deliver(
        self, out: list[Outgoing] | list[RegistryAction], conn_id: str | None = None,
        env: Envelope | None = None,
    ) -> None:
        for item in out:
            if isinstance(item, NotifyEmergency):
                if self.notifier is None:
                    log.error("emergency-not-notified", extra={"fields": {
                        "call": item.call_id, "why": "the server runs without a notifier"}})
                else:
                    self.notifier.notify(item.call_id)
                continue
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
