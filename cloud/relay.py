"""The media relay, sans-I/O: datagrams in from a connection, the datagram to send and where out.

Each leg of a call is a flow id carried by one box connection (docs/protocol.md §11). The relay
forwards a datagram arriving on (connection, flow) to the other leg's (connection, flow), rewriting
only the flow-id prefix; it checks the RTP header first and counts and drops what is malformed, what
names a flow not bound to that connection, and what exceeds the connection's rate (a flooding box is
held to its share, so it cannot take the relay's time from other calls). After a reconnect the
router re-binds a box's flows to its new connection (``media.bind``).

Cost matters here (100 datagrams/s per call each way): ``datagram`` does one varint read, a header
check, two dict lookups and a token-bucket update; no timers per datagram. Media silence is found by
``silent(now)`` from the server's periodic tick.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from roamline.cloud.errors import UsageError
from roamline.wire.errors import MalformedMedia
from roamline.wire.media import encode_varint, split_flow


@dataclass(frozen=True, slots=True)
class RelayConfig:
    silence_s: float = 10.0  # a bridged flow with no datagram for this long is reported silent
    rate_per_flow: float = 100.0  # datagrams/s a connection may send per flow it carries (50 nominal)
    burst_per_flow: float = 50.0  # bucket depth per flow


@dataclass(slots=True)
class _Flow:
    flow_id: int
    call_id: str
    conn_id: str | None
    last_rx: float
    peer: _Flow | None = None
    prefix: bytes = b""  # this flow's varint: put in front of datagrams sent to it
    silent_reported: bool = False


@dataclass(slots=True)
class _Bucket:
    tokens: float
    last: float
    flows: int = 0


@dataclass(slots=True)
class RelayStats:
    forwarded: int = 0
    unknown_flow: int = 0
    rate_limited: int = 0
    peer_unbound: int = 0
    malformed: Counter[str] = field(default_factory=Counter)

    def dropped(self) -> int:
        """Datagrams refused so far, whatever the reason."""
        return self.unknown_flow + self.rate_limited + self.peer_unbound + sum(self.malformed.values())

    def to_json(self) -> dict[str, object]:
        return {
            "forwarded": self.forwarded,
            "unknown_flow": self.unknown_flow,
            "rate_limited": self.rate_limited,
            "peer_unbound": self.peer_unbound,
            "malformed": dict(self.malformed),
        }


class Relay:
    def __init__(self, config: RelayConfig | None = None) -> None:
        self._config = config or RelayConfig()
        self._flows: dict[int, _Flow] = {}
        self._by_conn: dict[tuple[str, int], _Flow] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._calls: dict[str, tuple[int, int]] = {}
        self.stats = RelayStats()

    @property
    def config(self) -> RelayConfig:
        return self._config

    def flows_of(self, conn_id: str) -> list[int]:
        return [f.flow_id for f in self._flows.values() if f.conn_id == conn_id]

    # --- set-up by the router -----------------------------------------------------------------------

    def bridge(
        self, call_id: str, a: int, conn_a: str | None, b: int, conn_b: str | None, now: float
    ) -> None:
        if a == b or a in self._flows or b in self._flows:
            raise UsageError(f"call {call_id}: flows {a}, {b} are the same or in use")
        fa = _Flow(a, call_id, None, now, prefix=encode_varint(a))
        fb = _Flow(b, call_id, None, now, prefix=encode_varint(b))
        fa.peer, fb.peer = fb, fa
        self._flows[a], self._flows[b] = fa, fb
        self._calls[call_id] = (a, b)
        self._attach(fa, conn_a)
        self._attach(fb, conn_b)

    def bind(self, flow_id: int, conn_id: str | None, now: float) -> bool:
        """Flow ``flow_id`` is carried by ``conn_id`` from now on (None: by nobody). False if unknown."""
        flow = self._flows.get(flow_id)
        if flow is None:
            return False
        self._attach(flow, conn_id)
        if conn_id is not None:
            flow.last_rx = max(flow.last_rx, now)  # give the re-bound leg a full silence period
            flow.silent_reported = False
        return True

    def unbridge(self, call_id: str) -> None:
        pair = self._calls.pop(call_id, None)
        if pair is None:
            return
        for flow_id in pair:
            flow = self._flows.pop(flow_id, None)
            if flow is not None:
                self._attach(flow, None)
                flow.peer = None

    def connection_closed(self, conn_id: str) -> None:
        for flow in [f for f in self._flows.values() if f.conn_id == conn_id]:
            self._attach(flow, None)
        self._buckets.pop(conn_id, None)

    def _attach(self, flow: _Flow, conn_id: str | None) -> None:
        if flow.conn_id is not None:
            self._by_conn.pop((flow.conn_id, flow.flow_id), None)
            bucket = self._buckets.get(flow.conn_id)
            if bucket is not None:
                bucket.flows -= 1
        flow.conn_id = conn_id
        if conn_id is not None:
            self._by_conn[conn_id, flow.flow_id] = flow
            bucket = self._buckets.get(conn_id)
            if bucket is None:
                bucket = self._buckets[conn_id] = _Bucket(self._config.burst_per_flow, 0.0)
            bucket.flows += 1

    # --- the hot path -----------------------------------------------------------------------------------

    def datagram(self, conn_id: str, data: bytes, now: float) -> tuple[str, bytes] | None:
        """A datagram arrived on ``conn_id``: (connection, bytes) to send, or None (dropped, counted)."""
        bucket = self._buckets.get(conn_id)
        if bucket is None or bucket.flows <= 0:
            self.stats.unknown_flow += 1
            return None
        cfg = self._config
        tokens = bucket.tokens + (now - bucket.last) * cfg.rate_per_flow * bucket.flows
        cap = cfg.burst_per_flow * bucket.flows
        bucket.last = now
        if tokens > cap:
            tokens = cap
        if tokens < 1.0:
            bucket.tokens = tokens
            self.stats.rate_limited += 1
            return None
        bucket.tokens = tokens - 1.0
        try:
            flow_id, offset = split_flow(data)
        except MalformedMedia as exc:
            self.stats.malformed[exc.fault.value] += 1
            return None
        flow = self._by_conn.get((conn_id, flow_id))
        if flow is None:
            self.stats.unknown_flow += 1
            return None
        flow.last_rx = now
        peer = flow.peer
        if peer is None or peer.conn_id is None:
            self.stats.peer_unbound += 1
            return None
        self.stats.forwarded += 1
        return peer.conn_id, peer.prefix + data[offset:]

    # --- silence ------------------------------------------------------------------------------------------

    def silent(self, now: float) -> list[int]:
        """Flows that received nothing for ``silence_s`` (each reported once until it hears again)."""
        limit = now - self._config.silence_s
        out: list[int] = []
        for flow in self._flows.values():
            if flow.last_rx <= limit and not flow.silent_reported:
                flow.silent_reported = True
                out.append(flow.flow_id)
            elif flow.last_rx > limit:
                flow.silent_reported = False
        return out
