"""A bounded, localhost-only connection flood against one registry process, with real boxes registering
during it (issue 8, defect 4).

The registry runs in its own process (``python -m roamline.hil.bench.flood registry DIR ...``): the real
RegistryServer on a fresh store, sampling its link server's count of unauthenticated connections every
20 ms, reporting its own CPU time when told to stop. The flood is another process (``... attack ...``)
on other loopback addresses (127.0.0.2, 127.0.0.3, ...): each attacker completes the QUIC/TLS handshake,
never sends ``hello``, keeps the connection alive with pings, and reconnects as soon as it is closed.
Meanwhile boxes from 127.0.0.1 (this process) connect, prove themselves in ``hello`` and register a card,
as real boxes do.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roamline.hil.bench.regthroughput import percentile
from roamline.hil.errors import UsageError

SERVER_NAME = "registry.roamline"
ACCOUNT = "acct-flood"


@dataclass(frozen=True, slots=True)
class FloodPlan:
    sources: int = 2  # attacking loopback addresses 127.0.0.2 ...
    attackers: int = 100  # concurrent attacking connections (spread over the sources)
    seconds: float = 15.0
    boxes: int = 20  # real boxes registering during the flood
    hello_deadline_s: float = 2.0
    max_unauthenticated: int = 16

    def check(self) -> None:
        if not 1 <= self.sources <= 20 or not 1 <= self.attackers <= 1000 or not 1 <= self.boxes <= 200:
            raise UsageError("--sources 1..20, --attackers 1..1000, --boxes 1..200")
        if not 0 < self.seconds <= 120 or not 0 < self.hello_deadline_s <= 60 or self.max_unauthenticated < 1:
            raise UsageError("--seconds 0..120, --hello-timeout 0..60 and --max-unauthenticated >= 1")


# --- the registry process ---------------------------------------------------------------------------


def prepare(root: Path, boxes: int) -> list[dict[str, str]]:
    """CA, registry TLS, a store with an account and ``boxes`` enrolled boxes with one card each."""
    from roamline.cloud.store import Box, Card, SqliteStore
    from roamline.wire import identity

    now = time.time()
    root.mkdir(parents=True, exist_ok=True)
    ca = identity.CertificateAuthority.create(now=now)
    ca.save(root)
    cert, key = ca.issue_registry_tls(dns_name=SERVER_NAME, now=now)
    (root / "tls.pem").write_bytes(cert)
    (root / "tls.key").write_bytes(key)
    store = SqliteStore(root / "registry.db")
    store.open()
    store.create_account(ACCOUNT, "Flood Test", now)
    fleet = []
    for i in range(boxes):
        bkey, ckey = identity.generate_key(), identity.generate_key()
        box_id, card_id = identity.box_id_for_key(bkey.public_key()), secrets.token_hex(16)
        bcert = identity.certificate_pem(ca.issue(role=identity.Role.BOX, subject_id=box_id,
                                                  public_key=bkey.public_key(), now=now)).decode()
        ccert = identity.certificate_pem(ca.issue(role=identity.Role.CARD, subject_id=card_id,
                                                  public_key=ckey.public_key(), now=now)).decode()
        store.put_box(Box(box_id, bcert, f"box-{i}", "sim", None, None, None, False, now))
        store.put_card(Card(card_id, ACCOUNT, ccert, False, now))
        fleet.append({"box_id": box_id, "box_key": _pem(bkey), "box_cert": bcert, "card_id": card_id,
                      "card_key": _pem(ckey), "card_cert": ccert})
    store.close()
    return fleet


def _pem(key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    return str(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode())


async def _registry_main(root: Path, hello_deadline_s: float, max_unauth: int) -> None:
    from roamline.cloud.registry import Registry, RegistryConfig
    from roamline.cloud.server import RegistryServer
    from roamline.cloud.store import SqliteStore
    from roamline.wire import identity

    store = SqliteStore(root / "registry.db")
    store.open()
    server = RegistryServer(Registry(store, identity.CertificateAuthority.load(root), RegistryConfig()),
                            host="127.0.0.1", port=0, tls_cert_pem=(root / "tls.pem").read_bytes(),
                            tls_key_pem=(root / "tls.key").read_bytes(), wall=time.time,
                            hello_deadline_s=hello_deadline_s, max_unauthenticated_per_source=max_unauth)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print(json.dumps({"port": server.port}), flush=True)
    budget = server.link_server.budget
    most = 0
    cpu0 = time.process_time()
    while not stop.is_set():
        most = max(most, budget.total)
        await asyncio.sleep(0.02)
    cpu = time.process_time() - cpu0
    print(json.dumps({"max_concurrent_unauthenticated": most, "per_source_peak": budget.peak,
                      "initials_dropped_over_budget": budget.refused,
                      "registry_longest_unauthenticated_s": round(budget.longest_s, 2),
                      "registry_cpu_s": round(cpu, 3)}),
          flush=True)
    await server.close()
    store.close()


# --- the flood and the boxes --------------------------------------------------------------------------


@dataclass
class FloodCounts:
    attempted: int = 0
    held: int = 0  # handshakes completed (a connection the registry then held until its deadline)
    not_admitted: int = 0  # connects that got no handshake (dropped: source over its budget)
    longest_held_s: float = 0.0  # as the client saw it: a lost CONNECTION_CLOSE leaves it waiting longer


async def _attacker(port: int, ca_pem: bytes, source: str, until: float, counts: FloodCounts) -> None:
    """One attacking connection at a time: handshake, no hello, pings; again when cut off."""
    from roamline.wire import quic
    from roamline.wire.errors import LinkClosed

    while time.monotonic() < until:
        counts.attempted += 1
        try:
            link = await quic.connect("127.0.0.1", port, ca_pem=ca_pem, server_name=SERVER_NAME,
                                      keepalive_s=1.0, dead_after_s=None, connect_timeout_s=3.0,
                                      local_host=source)
        except LinkClosed:
            counts.not_admitted += 1
            continue
        counts.held += 1
        started = time.monotonic()
        try:
            async with asyncio.timeout(max(0.1, until - started)):
                await link.wait_closed()
        except TimeoutError:
            pass
        counts.longest_held_s = max(counts.longest_held_s, time.monotonic() - started)
        link.close()


async def _box(port: int, ca_pem: bytes, member: dict[str, str]) -> float | None:
    """A real box: connect from 127.0.0.1, nonce → hello → nonce → register. Seconds taken, or None."""
    from roamline.wire import identity, messages, quic, signing
    from roamline.wire.errors import PeerError

    started = time.monotonic()
    try:
        link = await quic.connect("127.0.0.1", port, ca_pem=ca_pem, server_name=SERVER_NAME, keepalive_s=None,
                                  connect_timeout_s=5.0, local_host="127.0.0.1")
    except PeerError:
        return None
    try:
        bkey = identity.load_private_key_pem(member["box_key"])
        ask = messages.NonceRequest(purpose=messages.NoncePurpose.HELLO)
        hello_nonce = messages.expect(await link.request(ask), messages.NonceIssued).nonce
        sig = identity.sign_digest(bkey, signing.hello_digest(hello_nonce, member["box_id"]))
        messages.expect(await link.request(messages.Hello(cert_pem=member["box_cert"], nonce=hello_nonce,
                                                          signature=sig)), messages.Welcome)
        reg = messages.NonceRequest(purpose=messages.NoncePurpose.REGISTER)
        nonce = messages.expect(await link.request(reg), messages.NonceIssued).nonce
        digest = signing.registration_digest(nonce, member["box_id"], member["card_id"])
        csig = identity.sign_digest(identity.load_private_key_pem(member["card_key"]), digest)
        messages.expect(await link.request(messages.Register(card_cert_pem=member["card_cert"],
                                                             card_id=member["card_id"], nonce=nonce,
                                                             signature=csig)), messages.Registered)
        return time.monotonic() - started
    except PeerError:
        return None
    finally:
        link.close()


async def _attack_main(port: int, ca_pem: bytes, sources: int, attackers: int, seconds: float) -> None:
    counts = FloodCounts()
    until = time.monotonic() + seconds
    addresses = [f"127.0.0.{2 + i}" for i in range(sources)]
    await asyncio.gather(*(_attacker(port, ca_pem, addresses[i % len(addresses)], until, counts)
                           for i in range(attackers)), return_exceptions=True)
    print(json.dumps({"connections_attempted": counts.attempted, "connections_held": counts.held,
                      "connections_not_admitted": counts.not_admitted,
                      "client_longest_connected_s": round(counts.longest_held_s, 2)}), flush=True)


async def _boxes(port: int, ca_pem: bytes, plan: FloodPlan, fleet: list[dict[str, str]]) -> dict[str, Any]:
    await asyncio.sleep(min(plan.hello_deadline_s + 1.0, plan.seconds / 3))  # the flood is at full strength
    box_times: list[float | None] = []
    gap = (plan.seconds / 2) / plan.boxes
    for member in fleet:  # one after another, spread over the middle of the flood
        box_times.append(await _box(port, ca_pem, member))
        await asyncio.sleep(gap)
    ok = [t * 1000 for t in box_times if t is not None]
    return {
            "boxes": plan.boxes, "boxes_registered": len(ok),
            "box_register_ms_p50": round(percentile(ok, 0.5), 1),
            "box_register_ms_max": round(max(ok or [0]), 1)}


def measure_flood(root: Path, plan: FloodPlan) -> dict[str, Any]:
    plan.check()
    fleet = prepare(root, plan.boxes)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "roamline.hil.bench.flood", "registry", str(root),
                             str(plan.hello_deadline_s), str(plan.max_unauthenticated)],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline() or "{}")
        if "port" not in ready:
            raise UsageError("the registry process did not start")
        started = time.monotonic()
        argv = [sys.executable, "-m", "roamline.hil.bench.flood", "attack", str(ready["port"]),
                str(root / "ca.pem"), str(plan.sources), str(plan.attackers), str(plan.seconds)]
        attack = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
        try:
            result = asyncio.run(_boxes(int(ready["port"]), (root / "ca.pem").read_bytes(), plan, fleet))
            assert attack.stdout is not None
            result.update(json.loads(attack.stdout.readline() or "{}"))
            attack.wait(30)
        finally:
            if attack.poll() is None:
                attack.kill()
                attack.wait()
        elapsed = time.monotonic() - started
        proc.send_signal(signal.SIGTERM)
        stats = json.loads(proc.stdout.readline() or "{}")
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    cpu = float(stats.get("registry_cpu_s", 0.0))
    return {"bench": "flood", "sources": plan.sources, "attackers": plan.attackers, "seconds": plan.seconds,
            "hello_deadline_s": plan.hello_deadline_s,
            "max_unauthenticated_per_source": plan.max_unauthenticated,
            **result, **stats, "registry_cpu_pct": round(100 * cpu / elapsed, 1) if elapsed else 0.0}


if __name__ == "__main__" and sys.argv[1:2] == ["registry"]:
    asyncio.run(_registry_main(Path(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])))
elif __name__ == "__main__" and sys.argv[1:2] == ["attack"]:
    asyncio.run(_attack_main(int(sys.argv[2]), Path(sys.argv[3]).read_bytes(), int(sys.argv[4]),
                             int(sys.argv[5]), float(sys.argv[6])))
