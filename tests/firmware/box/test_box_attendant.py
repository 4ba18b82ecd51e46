"""The attendant on a shared host line, through real box processes on the demo rig: the registry (router)
on SQLite, real QUIC, the exchange simulator's modems, virtual cards behind pcscd, attached handsets.

carol is subscribed to alice's follow-me number too (`roamline cloud account add-number`), so box-a's
line has two holders: a PSTN caller hears "Press 1 for alice. Press 2 for carol." (spoken by box-a on its
line, checked by correlation with the prompt box-a made) and keys a choice on the phone's keypad, which
box-a's modem reports as DTMF."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from roamline.hil.rig import load_rig
from roamline.hil.rigrun import RigRunner, last_json, roamline
from roamline.hil.story_service import prompt_heard

from .test_box_profile import wav_samples

ALICE = "+15550100001"  # box-a's host line: alice's follow-me number, and now carol's too
BOB = "+15550300003"  # a PSTN phone, "BOB JONES"


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RigRunner]:
    runner = RigRunner(load_rig("demo"), Path(tmp_path_factory.mktemp("attendant")))
    with runner:
        roamline("cloud", "account", "add-number", "--data", str(runner.cloud_dir), "carol", ALICE)
        yield runner


def cloud(rig: RigRunner, *args: str) -> Any:
    return last_json(roamline("cloud", *args, "--data", str(rig.cloud_dir), "--json"))


def exchange_connected(rig: RigRunner, caller: str, callee: str, timeout: float = 25.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(c["caller"] == caller and c["callee"] == callee and c["state"] == "connected"
               for c in rig.exchange_status()["calls"]):
            return True
        time.sleep(0.1)
    return False


def heard_score(rig: RigRunner, bob: Any, tmp_path: Path, prompt: str) -> float:
    heard = tmp_path / f"bob-heard-{prompt}.wav"
    bob.record(heard)
    said = rig.boxes["box-a"].dir / "data" / "prompts" / f"{prompt}.wav"
    score = prompt_heard(wav_samples(heard), wav_samples(said))
    print(f"bob heard {prompt}: correlation {score:.2f}")
    return score


@pytest.fixture
def both_in(rig: RigRunner) -> Iterator[None]:
    """alice's card in box-a (the host), carol's in box-b; both taken out afterwards."""
    marks = {b: rig.box_log_mark(b) for b in ("box-a", "box-b")}
    rig.insert("alice-card", "box-a")
    rig.insert("carol-card", "box-b")
    rig.wait_box_event("box-a", "registered", marks["box-a"])
    rig.wait_box_event("box-b", "registered", marks["box-b"])
    yield
    gone = {b: rig.box_log_mark(b) for b in ("box-a", "box-b")}
    rig.remove("alice-card")
    rig.remove("carol-card")
    rig.wait_box_event("box-a", "holder-wiped", gone["box-a"], timeout=15)
    rig.wait_box_event("box-b", "holder-wiped", gone["box-b"], timeout=15)


def test_the_caller_keys_2_and_only_the_second_holders_handset_rings(
        rig: RigRunner, both_in: None, tmp_path: Path) -> None:
    phone_a, phone_b = rig.handset("box-a"), rig.handset("box-b")
    before_a, before_b = len(phone_a.rings()), len(phone_b.rings())
    mark_a, mark_b = rig.box_log_mark("box-a"), rig.box_log_mark("box-b")
    bob = rig.pstn(BOB)
    bob.call(ALICE)
    try:
        menu = rig.wait_box_event("box-a", "attendant.menu", mark_a, timeout=25)
        assert "keys=12" in menu, menu
        assert exchange_connected(rig, "15550300003", "15550100001"), rig.exchange_status()["calls"]
        time.sleep(4.0)  # "Press 1 for alice. Press 2 for carol." takes about 3 s
        score = heard_score(rig, bob, tmp_path, "attendant-menu")
        assert score > 0.5, f"bob did not hear the menu (correlation {score:.2f})"
        assert len(phone_a.rings()) == before_a and len(phone_b.rings()) == before_b  # nobody rang yet
        bob.dtmf("2")
        chosen = rig.wait_box_event("box-a", r"attendant\.chosen", mark_a, timeout=10)
        assert "key=2" in chosen, chosen
        ring = phone_b.wait_ring(after=before_b, bursts=1, caller_id=True, timeout=20)
        cid = ring["caller_id"]
        assert cid is not None and cid.get("name") == "BOB JONES", ring
        phone_b.lift()
        rig.wait_box_event("box-b", "call.answered", mark_b, timeout=10)
        rig.wait_box_event("box-a", "attendant.connected", mark_a, timeout=10)
        assert len(phone_a.rings()) == before_a  # alice's handset never rang
    finally:
        bob.hang_up()
        phone_b.hang_up()
    rig.wait_box_event("box-a", "line.ended", mark_a, timeout=20)
    calls = cloud(rig, "calls", "--number", ALICE)
    assert calls[-1]["outcome"] == "answered", calls[-1]
    assert calls[-1]["terminal_box"] == rig.boxes["box-b"].box_id, calls[-1]


def test_no_answer_after_the_choice_falls_to_the_holders_voicemail_outcome(
        rig: RigRunner, both_in: None, tmp_path: Path) -> None:
    cloud(rig, "profile", "set", "carol", "--voicemail-timeout", "8")
    phone_b = rig.handset("box-b")
    before_b = len(phone_b.rings())
    mark_a = rig.box_log_mark("box-a")
    bob = rig.pstn(BOB)
    bob.call(ALICE)
    try:
        rig.wait_box_event("box-a", "attendant.menu", mark_a, timeout=25)
        assert exchange_connected(rig, "15550300003", "15550100001"), rig.exchange_status()["calls"]
        time.sleep(1.0)
        bob.dtmf("2")  # while the menu is still being said
        rig.wait_box_event("box-a", r"attendant\.chosen", mark_a, timeout=10)
        phone_b.wait_ring(after=before_b, bursts=1, timeout=20)  # carol's handset rings; nobody lifts
        fallback = rig.wait_box_event("box-a", r"attendant\.fallback", mark_a, timeout=20)
        assert "outcome=voicemail" in fallback, fallback
        rig.wait_box_event("box-a", "line.ended", mark_a, timeout=20)  # said, then box-a hung up
        score = heard_score(rig, bob, tmp_path, "voicemail-unavailable")
        assert score > 0.5, f"bob did not hear the voicemail outcome (correlation {score:.2f})"
    finally:
        bob.hang_up()
    calls = cloud(rig, "calls", "--number", ALICE)
    assert calls[-1]["outcome"] == "missed" and calls[-1]["end_reason"] == "no-answer", calls[-1]
    assert calls[-1]["account_id"] == cloud(rig, "profile", "show", "carol")["account_id"], calls[-1]
