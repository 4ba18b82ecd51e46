"""Calls through real box processes on the demo rig: registry (router) on SQLite, real QUIC, the exchange
simulator's modems, virtual cards behind pcscd, and handsets attached through their control sockets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from roamline.hil.rig import load_rig
from roamline.hil.rigrun import RigRunner

ALICE = "+15550100001"  # alice's follow-me number: box-a's host line
BOB = "+15550300003"  # a PSTN phone, "BOB JONES"


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
        assert ring["cadence"] is not None
    finally:
        bob.hang_up()
        rig.remove("alice-card")
