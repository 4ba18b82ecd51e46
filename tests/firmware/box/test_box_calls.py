"""Calls through real box processes on the demo rig: registry (router) on SQLite, real QUIC, the exchange
simulator's modems, virtual cards behind pcscd, and handsets attached through their control sockets."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from roamline.hil.rig import load_rig
from roamline.hil.rigrun import RigRunner

ALICE = "+15550100001"  # alice's follow-me number: box-a's host line
BOB = "+15550300003"  # a PSTN phone, "BOB JONES"


def connected(rig: RigRunner) -> bool:
    return any(
        c["caller"].endswith("5550300003") and c["state"] == "connected"
        for c in rig.exchange_status()["calls"]
    )


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RigRunner]:
    runner = RigRunner(load_rig("demo"), Path(tmp_path_factory.mktemp("calls")))
    with runner:
        yield runner


def test_a_pstn_call_to_the_follow_me_number_rings_the_holders_handset_with_caller_id(rig: RigRunner) -> None:
    mark = rig.box_log_mark("box-a")
    rig.insert("alice-card", "box-a")
    rig.wait_box_event("box-a", "registered", mark)
    phone = rig.handset("box-a")
    before = len(phone.rings())
    bob = rig.pstn(BOB)
    bob.call(ALICE)
    try:
        ring = phone.wait_ring(after=before, bursts=1, caller_id=True, timeout=20)
        cid = ring["caller_id"]
        assert cid is not None and cid.get("number", "").endswith("5550300003"), ring
        assert cid.get("name") == "BOB JONES", ring
        line = rig.wait_box_event("box-a", "call.ringing", mark, timeout=5)
        assert "caller_name=BOB JONES" in line or "BOB JONES" in line
        assert ring["cadence"] == "us-dr1"
    finally:
        mark = rig.box_log_mark("box-a")
        bob.hang_up()
        rig.remove("alice-card")
        rig.wait_box_event("box-a", "line.ended", mark, timeout=20)  # the modem saw the rings stop


def test_the_holder_answers_and_voice_flows_both_ways_then_the_caller_hangs_up(
    rig: RigRunner, tmp_path: Path
) -> None:
    """Lift on the ring → the cloud answers box-a's host line → voice relayed host modem ⇄ relay ⇄
    handset, checked by content (a tone each way), then the PSTN caller hangs up and the box hears it."""
    from roamline.hil.voicecheck import HandsetEnd, Probe, PstnEnd, verify

    mark = rig.box_log_mark("box-a")
    rig.insert("alice-card", "box-a")
    rig.wait_box_event("box-a", "registered", mark)
    phone = rig.handset("box-a")
    before = len(phone.rings())
    bob = rig.pstn(BOB)
    bob.call(ALICE)
    try:
        phone.wait_ring(after=before, bursts=1, caller_id=True, timeout=20)
        phone.lift()
        rig.wait_box_event("box-a", "call.answered", mark, timeout=10)
        deadline = time.monotonic() + 10
        while not connected(rig) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert connected(rig), rig.exchange_status()["calls"]  # box-a's modem answered bob's call
        time.sleep(0.5)
        hs, pstn = HandsetEnd(phone, workdir=tmp_path), PstnEnd(bob, workdir=tmp_path)
        up = verify(hs, pstn, Probe("tone", hz=1004.0), settle_s=1.0)
        assert up.ok, up
        down = verify(pstn, hs, Probe("tone", hz=697.0), settle_s=1.0)
        assert down.ok, down
        bob.hang_up()
        rig.wait_box_event("box-a", "call.ended", mark, timeout=15)
    finally:
        bob.hang_up()
        phone.hang_up()
        rig.remove("alice-card")


def test_a_holder_calls_a_pstn_number_out_through_the_boxs_line_with_voice_both_ways(
    rig: RigRunner, tmp_path: Path
) -> None:
    """carol at box-b dials DAVE'S PIZZA (1 + ten digits): the cloud routes it out box-b's own line, the
    modem dials, the exchange rings Dave (who answers), and voice flows handset ⇄ modem both ways."""
    from roamline.hil.voicecheck import HandsetEnd, Probe, PstnEnd, verify

    mark = rig.box_log_mark("box-b")
    rig.insert("carol-card", "box-b")
    rig.wait_box_event("box-b", "registered", mark)
    phone = rig.handset("box-b")
    try:
        phone.lift()
        phone.key_dtmf("15550400004")
        line = rig.wait_box_event("box-b", r"call\.placing .*route=own-line", mark, timeout=10)
        assert "number=+15550400004" in line
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(
            c["callee"] == "15550400004" and c["state"] == "connected" for c in rig.exchange_status()["calls"]
        ):
            time.sleep(0.1)
        calls = rig.exchange_status()["calls"]
        assert any(
            c["caller"] == "15550200002" and c["callee"] == "15550400004" and c["state"] == "connected"
            for c in calls
        ), calls
        # the modem's dial result (this one reports after the far end answered), then voice streams
        assert "bridged=True" in rig.wait_box_event("box-b", "line.dialled", mark, timeout=20)
        time.sleep(0.5)
        hs, dave = HandsetEnd(phone, workdir=tmp_path), PstnEnd(rig.pstn("+15550400004"), workdir=tmp_path)
        up = verify(hs, dave, Probe("tone", hz=1004.0), settle_s=1.0)
        assert up.ok, up
        down = verify(dave, hs, Probe("tone", hz=697.0), settle_s=1.0)
        assert down.ok, down
    finally:
        phone.hang_up()
        rig.remove("carol-card")
