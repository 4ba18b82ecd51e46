"""Rights on host lines through real box processes on the demo rig (issue 10 item 5): alice's card at
box-b calls DAVE'S PIZZA out through box-a's line (the rig gives her a right on box-a's line, none on
box-b's), so the registry routes it as a host-line call with a signed grant in `line.dial`.

- A call over the right's longest call is warned (box-b's `call.limit-warning`, the tone) and then cut,
  with the genuine registry process.
- A forged grant (signed by a key that is not the registry CA's) and a stale one (issued ten minutes
  ago) are refused by box-a before it dials. For these the registry is the real `RegistryServer`
  (real QUIC, the rig's SQLite and certificates) run in this test process with its router's `line.dial`
  grants swapped on the way out: the registry process is stopped and this one listens on its port."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from roamline.cloud import server as cloud_server
from roamline.cloud.cmd.common import DataDir, open_store
from roamline.cloud.registry import Registry, RegistryConfig
from roamline.cloud.router import Action, Request, Router, RouterConfig
from roamline.cloud.sqlite_store import SqliteStore
from roamline.hil.exchange.audio import write_wav
from roamline.hil.rig import load_rig
from roamline.hil.rigrun import RigRunner, last_json, roamline
from roamline.wire import grant as wire_grant
from roamline.wire import identity
from roamline.wire.calls import LineDial
from roamline.wire.messages import Envelope

HOST = "15550100001"  # box-a's line (exchange digits)
LINE = "+15550100001"
DAVE = "+15550400004"  # DAVE'S PIZZA, answers after two rings


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RigRunner]:
    runner = RigRunner(load_rig("demo"), Path(tmp_path_factory.mktemp("rights")))
    with runner:
        yield runner


def cloud(rig: RigRunner, *args: str) -> Any:
    return last_json(roamline("cloud", *args, "--data", str(rig.cloud_dir), "--json"))


def dials_from_host(rig: RigRunner) -> list[dict[str, Any]]:
    """Every ATD command box-a's modem sent (the exchange notes each one)."""
    return [d for d in rig.exchange_status()["dials"] if d["number"] == HOST]


def host_calls(rig: RigRunner) -> list[dict[str, Any]]:
    return [c for c in rig.exchange_status()["calls"] if c["caller"] == HOST]


@contextlib.contextmanager
def alice_at_box_b(rig: RigRunner) -> Iterator[Any]:
    mark = rig.box_log_mark("box-b")
    rig.insert("alice-card", "box-b")
    rig.wait_box_event("box-b", "registered", mark)
    phone = rig.handset("box-b")
    try:
        yield phone
    finally:
        phone.hang_up()
        rig.pstn(DAVE).hang_up()
        gone = rig.box_log_mark("box-b")
        rig.remove("alice-card")
        rig.wait_box_event("box-b", "holder-wiped", gone, timeout=15)


def dave_answers_and_speaks(rig: RigRunner, tmp_path: Path, timeout: float = 40.0) -> None:
    """Dave picks up (after two rings) and says something: a POTS line's answer is inferred from the far
    end's voice (a silent far end would leave the call "dialling" until media silence ends it)."""
    deadline = time.monotonic() + timeout
    while not any(c["callee"] == "15550400004" and c["state"] == "connected" for c in host_calls(rig)):
        assert time.monotonic() < deadline, rig.exchange_status()["calls"]
        time.sleep(0.1)
    t = np.arange(5 * 8000) / 8000.0
    wav = tmp_path / "dave-hello.wav"
    write_wav(wav, (8000 * np.sin(2 * np.pi * 440.0 * t)).astype(np.int16))
    rig.pstn(DAVE).play(wav)


def test_a_call_over_its_length_limit_is_warned_then_cut(rig: RigRunner, tmp_path: Path) -> None:
    """40 s at most: the router warns 30 s before (box-b's tone) and cuts at 40 s (both legs)."""
    cloud(rig, "rights", "alice", LINE, "--call-out", "yes", "--max-call-s", "40")
    with alice_at_box_b(rig) as phone:
        mark_a, mark_b = rig.box_log_mark("box-a"), rig.box_log_mark("box-b")
        phone.lift()
        phone.key_dtmf("15550400004")
        placing = rig.wait_box_event("box-b", r"call\.placing .*number=\+15550400004", mark_b, timeout=15)
        assert f"number={DAVE}" in placing, placing
        dialled = rig.wait_box_event("box-a", r"line\.dialled", mark_a, timeout=40)
        assert "ok=True" in dialled, dialled
        dave_answers_and_speaks(rig, tmp_path)  # once box-a's modem streams the line's voice
        rig.wait_box_event("box-b", r"call\.answered", mark_b, timeout=20)  # the answer, inferred
        warned = rig.wait_box_event("box-b", r"call\.limit-warning", mark_b, timeout=30)
        ended_b = rig.wait_box_event("box-b", r"call\.ended", mark_b, timeout=45)
        rig.wait_box_event("box-a", r"line\.ended", mark_a, timeout=20)
        assert warned and ended_b
        assert not [c for c in host_calls(rig) if c["state"] == "connected"]  # box-a's line is down
    calls = cloud(rig, "calls", "--number", DAVE)
    assert calls[-1]["end_reason"] == "limit" and calls[-1]["route"] == "host-line", calls[-1]
    cloud(rig, "rights", "alice", LINE, "--revoke")
    cloud(rig, "rights", "alice", LINE, "--call-out", "yes")  # as the rig granted it: no limit


class _SwappingRouter(Router):
    """The real router, with every `line.dial` grant replaced by ``swap(dial, now)`` on the way out."""

    swap: Callable[[LineDial, float], str] = staticmethod(lambda dial, now: dial.grant)

    def handle(self, conn_id: str, box_id: str, env: Envelope, now: float) -> list[Action]:
        out = super().handle(conn_id, box_id, env, now)
        return [self._swapped(a, now) for a in out]

    def _swapped(self, a: Action, now: float) -> Action:
        if isinstance(a, Request) and isinstance(a.message, LineDial):
            d = a.message
            grant = type(self).swap(d, now)
            return Request(a.conn_id, LineDial(call_id=d.call_id, number=d.number, flow_id=d.flow_id,
                                               grant=grant), a.ref, a.timeout_s)
        return a


@contextlib.contextmanager
def swapping_registry(rig: RigRunner, swap: Callable[[LineDial, float], str],
                      monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The rig's registry process stopped; the real RegistryServer on its port here, grants swapped."""
    d = DataDir(rig.cloud_dir)
    ca = identity.CertificateAuthority.load(d.root)
    router_cls = type("Swapping", (_SwappingRouter,), {"swap": staticmethod(swap)})
    monkeypatch.setattr(cloud_server, "Router", router_cls)
    loop = asyncio.new_event_loop()
    ready, stop = threading.Event(), asyncio.Event()
    failure: list[BaseException] = []

    async def main() -> None:
        store = open_store(d.root)
        calls = cloud_server.CallSetup(store=SqliteStore(d.db), router=RouterConfig(), grant_key=ca.key)
        server = cloud_server.RegistryServer(
            Registry(store, ca, RegistryConfig()), host="127.0.0.1", port=rig.port, wall=time.time,
            tls_cert_pem=d.server_cert.read_bytes(), tls_key_pem=d.server_key.read_bytes(), calls=calls)
        try:
            await server.start()
            ready.set()
            await stop.wait()
        finally:
            await server.close()
            store.close()

    def run() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # reported to the test below
            failure.append(exc)
            ready.set()

    rig.stop_registry()
    thread = threading.Thread(target=run, name="swapping-registry", daemon=True)
    marks = {b: rig.box_log_mark(b) for b in ("box-a", "box-b")}
    thread.start()
    try:
        assert ready.wait(30) and not failure, failure
        for box, mark in marks.items():
            rig.wait_box_event(box, "link-up", mark, timeout=60)
        yield
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()
        marks = {b: rig.box_log_mark(b) for b in ("box-a", "box-b")}
        rig.serve_registry(rig.port)
        for box, mark in marks.items():
            rig.wait_box_event(box, "link-up", mark, timeout=60)


def _forged(dial: LineDial, now: float) -> str:
    other = identity.generate_key()  # not the registry CA's key
    return wire_grant.issue(other, call_id=dial.call_id, line=LINE, number=dial.number, account="alice",
                            now=now, max_call_s=None)


def _stale(ca_key: identity.PrivateKey) -> Callable[[LineDial, float], str]:
    def swap(dial: LineDial, now: float) -> str:
        return wire_grant.issue(ca_key, call_id=dial.call_id, line=LINE, number=dial.number, account="alice",
                                now=now - 600.0, max_call_s=None)
    return swap


@pytest.mark.parametrize(("case", "reason"), [("forged", "forged grant"), ("stale", "stale grant")])
def test_a_forged_or_stale_line_dial_is_refused_by_the_host_box(
        rig: RigRunner, monkeypatch: pytest.MonkeyPatch, case: str, reason: str) -> None:
    ca = identity.CertificateAuthority.load(DataDir(rig.cloud_dir).root)
    swap = _forged if case == "forged" else _stale(ca.key)
    before = len(dials_from_host(rig))
    with swapping_registry(rig, swap, monkeypatch), alice_at_box_b(rig) as phone:
        mark_a, mark_b = rig.box_log_mark("box-a"), rig.box_log_mark("box-b")
        phone.lift()
        phone.key_dtmf("15550400004")
        rig.wait_box_event("box-b", r"call\.placing .*number=\+15550400004", mark_b, timeout=15)
        refused = rig.wait_box_event("box-a", r"line\.dial-refused", mark_a, timeout=20)
        assert reason in refused, refused
        rig.wait_box_event("box-b", r"call\.ended|refused", mark_b, timeout=20)
        time.sleep(1.0)
        assert len(dials_from_host(rig)) == before  # box-a's modem never went off hook to dial
    calls = cloud(rig, "calls", "--number", DAVE)
    assert calls[-1]["outcome"] == "refused", calls[-1]
