"""The holder's service on any box, through real box processes on the demo rig: the registry (router) on
SQLite, real QUIC, the exchange simulator's modems, virtual cards behind pcscd, attached handsets.

Profiles are set with the operator's commands (`roamline cloud filters|speed-dials`) on the registry's
store while it runs; the registry pushes changes to the boxes where the holder's card is."""

from __future__ import annotations

import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from roamline.hil.rig import load_rig
from roamline.hil.rigrun import RigRunner, last_json, roamline

ALICE = "+15550100001"  # alice's follow-me number: box-a's host line
BOB = "+15550300003"  # a PSTN phone, "BOB JONES"
DAVE = "+15550400004"  # DAVE'S PIZZA, answers after two rings


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RigRunner]:
    runner = RigRunner(load_rig("demo"), Path(tmp_path_factory.mktemp("profile")))
    with runner:
        yield runner


def cloud(rig: RigRunner, *args: str) -> Any:
    return last_json(roamline("cloud", *args, "--data", str(rig.cloud_dir), "--json"))


def wav_samples(path: Path) -> np.ndarray[Any, Any]:
    with wave.open(str(path), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)


def best_match(heard: np.ndarray[Any, Any], said: np.ndarray[Any, Any]) -> float:
    """Highest normalised correlation of the prompt's first second against the recording, 0 … 1 (windows
    of digital silence skipped: FFT rounding over zero energy once gave "matches" of several hundred)."""
    from roamline.hil.story_service import prompt_heard

    return prompt_heard(heard, said)


def test_a_filter_blocks_a_listed_caller_with_a_spoken_refusal(rig: RigRunner, tmp_path: Path) -> None:
    shown = cloud(rig, "filters", "alice", "--add", f"bob:block:prefixes={BOB}")
    assert shown["filters"] == [{"name": "bob", "action": "block", "prefixes": [BOB], "refusal": "spoken"}]
    mark = rig.box_log_mark("box-a")
    rig.insert("alice-card", "box-a")
    rig.wait_box_event("box-a", "registered", mark)
    phone = rig.handset("box-a")
    before = len(phone.rings())
    bob = rig.pstn(BOB)
    bob.call(ALICE)
    try:
        line = rig.wait_box_event("box-a", "call.filtered", mark, timeout=25)
        assert "how=block" in line, line
        # box-a's modem answers to say no, then hangs up after the announcement
        rig.wait_box_event("box-a", "line.ended", mark, timeout=20)
        heard = tmp_path / "bob-heard.wav"
        bob.record(heard)
        prompt = rig.boxes["box-a"].dir / "data" / "prompts" / "refused-filtered.wav"
        score = best_match(wav_samples(heard), wav_samples(prompt))
        assert score > 0.5, f"bob did not hear the refusal (correlation {score:.2f})"
        assert len(phone.rings()) == before  # alice's handset never rang
    finally:
        bob.hang_up()
    calls = cloud(rig, "calls", "--number", ALICE)
    assert calls[-1]["outcome"] == "filtered" and calls[-1]["end_reason"] == "filtered-block", calls[-1]
    cloud(rig, "filters", "alice", "--clear")
    gone = rig.box_log_mark("box-a")
    rig.remove("alice-card")
    rig.wait_box_event("box-a", "holder-wiped", gone, timeout=15)  # seen gone before the next insert


def exchange_connected(rig: RigRunner, caller: str, callee: str, timeout: float = 25.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(c["caller"] == caller and c["callee"] == callee and c["state"] == "connected"
               for c in rig.exchange_status()["calls"]):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize(("box", "line_digits", "placing"), [
    ("box-a", "15550100001", r"call\.placing .*route=own-line"),  # her line (the rig grants it)
    ("box-b", "15550200002", r"call\.placing .*route=own-line"),  # carol's line, alice given a right on it
])
def test_a_holders_speed_dial_works_on_any_box(rig: RigRunner, box: str, line_digits: str,
                                                placing: str) -> None:
    """alice's #3, set in the registry while her card is in, is pushed to the box and dials DAVE'S PIZZA
    from box-a and, her card moved, from box-b (whose line she is given a right on: `cloud rights`).
    Out through box-a's line as a host line from box-b is not what this shows (see docs/status)."""
    if box == "box-b":
        cloud(rig, "rights", "alice", "+15550200002", "--call-out", "yes")
    mark = rig.box_log_mark(box)
    rig.insert("alice-card", box)
    rig.wait_box_event(box, "registered", mark)
    shown = cloud(rig, "speed-dials", "alice", "--set", f"3={DAVE},Pizza")
    assert shown["speed_dials"] == [{"key": "3", "number": DAVE, "label": "Pizza"}]
    version = cloud(rig, "profile", "show", "alice")["version"]
    # pushed within a registry sweep (an earlier change's push may come first: wait for this version)
    rig.wait_box_event(box, f"profile-updated .*seq={version}", mark, timeout=10)
    holders = rig.box_holders(box)
    assert len(holders) == 1
    phone = rig.handset(box)
    try:
        phone.lift()
        phone.key_dtmf("#3")
        line = rig.wait_box_event(box, "speed-dial", mark, timeout=15)
        assert f"number={DAVE}" in line, line
        placed = rig.wait_box_event(box, placing, mark, timeout=15)
        assert f"number={DAVE}" in placed
        assert exchange_connected(rig, line_digits, "15550400004"), rig.exchange_status()["calls"]
    finally:
        phone.hang_up()
        rig.pstn(DAVE).hang_up()  # the pizza place puts its phone down too (else the next call is busy)
        gone = rig.box_log_mark(box)  # (a mark from before the insert could catch an earlier wipe)
        rig.remove("alice-card")
    rig.wait_box_event(box, "holder-wiped", gone, timeout=15)
    assert rig.box_holders(box) == []  # the card left: its cached profile is gone
