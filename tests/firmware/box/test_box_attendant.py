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

import numpy as np
import pytest

from roamline.hil.exchange.audio import write_wav
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


def test_no_answer_after_the_choice_leaves_a_message_in_that_holders_voicemail(
        rig: RigRunner, both_in: None, tmp_path: Path) -> None:
    """BOB keys 2, carol does not answer within her 8 s: box-a, whose line is off hook already, takes a
    message for carol (the registry's voicemail.take): greeting, beep, BOB's 3 s tone; it is carol's."""
    cloud(rig, "profile", "set", "carol", "--voicemail-timeout", "8")
    before = {m["message_id"] for m in cloud(rig, "voicemail", "list", "carol")}
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
        rig.wait_box_event("box-a", r"voicemail\.recording", mark_a, timeout=25)
        time.sleep(0.3)
        greeting = rig.boxes["box-a"].dir / "data" / "prompts" / "greeting-15550100001.wav"
        time.sleep(len(wav_samples(greeting)) / 8000 + 0.2 + 0.4 + 0.3)  # the greeting, a pause, the beep
        t = np.arange(3 * 8000) / 8000.0
        tone = tmp_path / "bob-says.wav"
        write_wav(tone, (8000 * np.sin(2 * np.pi * 700.0 * t)).astype(np.int16))
        bob.play(tone)
        time.sleep(3.5)
    finally:
        bob.hang_up()
    rig.wait_box_event("box-a", r"voicemail\.recorded", mark_a, timeout=20)
    deadline = time.monotonic() + 30
    while True:
        fresh = [m for m in cloud(rig, "voicemail", "list", "carol") if m["message_id"] not in before]
        if fresh or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(fresh) == 1, fresh
    (msg,) = fresh
    assert msg["number"] == ALICE and msg["caller_name"] == "BOB JONES" and msg["duration_s"] >= 2.5, msg
    calls = cloud(rig, "calls", "--number", ALICE)
    (rec,) = [c for c in calls if c["call_id"] == msg["call_id"]]
    assert rec["outcome"] == "missed" and rec["end_reason"] == "no-answer", rec
    assert rec["account_id"] == cloud(rig, "profile", "show", "carol")["account_id"], rec
