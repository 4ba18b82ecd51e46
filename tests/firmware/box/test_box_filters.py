"""Each filter kind through real box processes on the demo rig (issue 10 items 4 and 5): the registry
(router) on SQLite, real QUIC, the exchange simulator's modems, virtual cards behind pcscd, attached
handsets. alice's number is box-a's line; carol's is box-b's. Filters are set with `roamline cloud filters`
while the registry runs; one rig for the module, several checks per call.

- A forward to a plain PSTN number (DAVE'S PIZZA): box-b's line dials it (alice's call-out right there),
  box-a answers BOB's call when Dave answers, and BOB hears Dave; one record with both legs.
- A forward to a follow-me number (carol's): carol's handset at box-b rings and she answers.
- A silent reject (box-a never answers) and a voicemail filter on a schedule in alice's time zone
  (inside the window: box-a takes a message; outside: her handset rings).
- A budget on a host line reached mid-call: warned, then cut."""

from __future__ import annotations

import datetime as dt
import time
import wave
import zoneinfo
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from roamline.hil.rig import load_rig
from roamline.hil.rigrun import RigRunner, last_json, roamline

ALICE = "+15550100001"  # alice's number: box-a's line
CAROL = "+15550200002"  # carol's number: box-b's line
BOB = "+15550300003"  # "BOB JONES"
DAVE = "+15550400004"  # DAVE'S PIZZA, answers after two rings

pytestmark = pytest.mark.timeout(240)  # the module's rig starts inside the first test's time


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RigRunner]:
    runner = RigRunner(load_rig("demo"), Path(tmp_path_factory.mktemp("filters")))
    with runner:
        yield runner


def cloud(rig: RigRunner, *args: str) -> Any:
    return last_json(roamline("cloud", *args, "--data", str(rig.cloud_dir), "--json"))


def write_tone(path: Path, hz: float, seconds: float) -> Path:
    t = np.arange(int(8000 * seconds)) / 8000
    x = (np.sin(2 * np.pi * hz * t) * 32767 * 10 ** (-12 / 20)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(x.tobytes())
    return path


def tone_seconds(path: Path, hz: float) -> float:
    """Seconds of 20 ms blocks in the WAV that hold mostly ``hz`` (Goertzel power vs the block's)."""
    with wave.open(str(path), "rb") as w:
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    n = 160
    k = np.exp(-2j * np.pi * hz * np.arange(n) / 8000)
    found = 0
    for i in range(0, len(x) - n + 1, n):
        block = x[i:i + n]
        total = float(np.sum(block ** 2))
        if total >= n * 100.0 ** 2 and abs(np.dot(block, k)) ** 2 * 2 / n / total > 0.6:
            found += 1
    return found * n / 8000


def exchange_call(rig: RigRunner, caller: str, callee: str) -> dict[str, Any] | None:
    for c in reversed(rig.exchange_status()["calls"]):
        if c["caller"] == caller.lstrip("+") and c["callee"] == callee.lstrip("+"):
            return dict(c)
    return None


def wait_connected(rig: RigRunner, caller: str, callee: str, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while (c := exchange_call(rig, caller, callee)) is None or c["state"] != "connected":
        assert time.monotonic() < deadline, rig.exchange_status()["calls"]
        time.sleep(0.1)


def record_of(rig: RigRunner, number: str) -> dict[str, Any]:
    return dict(cloud(rig, "calls", "--number", number)[-1])


@pytest.fixture
def alice_at_box_a(rig: RigRunner) -> Iterator[None]:
    mark = rig.box_log_mark("box-a")
    rig.insert("alice-card", "box-a")
    rig.wait_box_event("box-a", "registered", mark)
    try:
        yield
    finally:
        cloud(rig, "filters", "alice", "--clear")
        gone = rig.box_log_mark("box-a")
        rig.remove("alice-card")
        rig.wait_box_event("box-a", "holder-wiped", gone, timeout=15)


def set_filters(rig: RigRunner, box: str, *args: str) -> None:
    """Change alice's filters and wait until the registry has pushed that version to ``box``."""
    mark = rig.box_log_mark(box)
    cloud(rig, "filters", "alice", "--clear", *args)
    version = cloud(rig, "profile", "show", "alice")["version"]
    rig.wait_box_event(box, f"profile-updated .*seq={version}", mark, timeout=10)


def test_a_forward_to_a_pstn_number_goes_out_another_line_and_bob_hears_dave(
        rig: RigRunner, tmp_path: Path, alice_at_box_a: None) -> None:
    cloud(rig, "rights", "alice", CAROL, "--call-out", "yes", "--rate", "0.6")
    set_filters(rig, "box-a", "--add", f"away:forward:to={DAVE}")
    phone_a = rig.handset("box-a")
    before = len(phone_a.rings())
    mark_a, mark_b = rig.box_log_mark("box-a"), rig.box_log_mark("box-b")
    bob, dave = rig.pstn(BOB), rig.pstn(DAVE)
    bob.call(ALICE)
    try:
        dialled = rig.wait_box_event("box-b", r"line\.dialled", mark_b, timeout=30)
        assert "ok=True" in dialled, dialled
        wait_connected(rig, CAROL, DAVE)  # box-b's line reached Dave (he answers after two rings)
        c = exchange_call(rig, BOB, ALICE)
        assert c is not None and c["state"] != "connected"  # BOB's call still rings at box-a
        dave.play(write_tone(tmp_path / "dave.wav", 440.0, 10.0))  # Dave speaks: the answer is inferred
        wait_connected(rig, BOB, ALICE, timeout=20)  # box-a answered BOB's call for the forward
        time.sleep(3.0)
        bob.play(write_tone(tmp_path / "bob.wav", 700.0, 2.0))
        time.sleep(2.5)
        heard_bob, heard_dave = tmp_path / "bob-heard.wav", tmp_path / "dave-heard.wav"
        bob.record(heard_bob)
        dave.record(heard_dave)
    finally:
        bob.hang_up()
    rig.wait_box_event("box-a", r"line\.ended", mark_a, timeout=20)
    rig.wait_box_event("box-b", r"line\.ended", mark_b, timeout=20)  # the forward's leg hung up too
    dave.hang_up()
    assert tone_seconds(heard_bob, 440.0) >= 2.0, "BOB did not hear Dave through the forward"
    assert tone_seconds(heard_dave, 700.0) >= 1.0, "Dave did not hear BOB"
    assert len(phone_a.rings()) == before  # alice's handset never rang
    rec = record_of(rig, ALICE)
    assert (rec["outcome"], rec["route"], rec["terminal_box"]) == ("answered", "incoming",
                                                                   rig.boxes["box-b"].box_id), rec
    assert rec["reports"]["registry/forward"]["number"] == DAVE, rec["reports"]
    deadline = time.monotonic() + 15  # both lines' host reports come into the one record (outboxes)
    while len([k for k in (rec["reports"] or {}) if k.endswith("/host")]) < 2:
        assert time.monotonic() < deadline, rec["reports"]
        time.sleep(0.5)
        rec = record_of(rig, ALICE)
    assert len([c for c in cloud(rig, "calls") if c["call_id"] == rec["call_id"]]) == 1
    right = cloud(rig, "rights", "alice", CAROL)
    assert right["spent"] > 0, right  # the forward's minutes billed to alice on box-b's line
    cloud(rig, "rights", "alice", CAROL, "--revoke")


def test_a_forward_to_a_follow_me_number_rings_that_holder(rig: RigRunner, alice_at_box_a: None) -> None:
    set_filters(rig, "box-a", "--add", f"to-carol:forward:to={CAROL}")
    mark_b = rig.box_log_mark("box-b")
    rig.insert("carol-card", "box-b")
    rig.wait_box_event("box-b", "registered", mark_b)
    phone_b = rig.handset("box-b")
    before = len(phone_b.rings())
    bob = rig.pstn(BOB)
    bob.call(ALICE)
    try:
        deadline = time.monotonic() + 25
        while len(phone_b.rings()) == before:
            assert time.monotonic() < deadline, "carol's handset did not ring"
            time.sleep(0.1)
        phone_b.lift()
        wait_connected(rig, BOB, ALICE, timeout=20)
    finally:
        bob.hang_up()
        phone_b.hang_up()
        gone = rig.box_log_mark("box-b")
        rig.remove("carol-card")
        rig.wait_box_event("box-b", "holder-wiped", gone, timeout=15)
    rec = record_of(rig, ALICE)
    assert rec["outcome"] == "answered" and rec["terminal_box"] == rig.boxes["box-b"].box_id, rec


def test_a_silent_reject_and_a_voicemail_filter_on_a_schedule_in_the_holders_zone(
        rig: RigRunner, tmp_path: Path, alice_at_box_a: None) -> None:
    phone_a = rig.handset("box-a")
    bob = rig.pstn(BOB)
    # silent reject: box-a never answers, BOB hears only ringing, alice's handset stays quiet
    set_filters(rig, "box-a", "--add", f"bob:block:prefixes={BOB},refusal=silent")
    before = len(phone_a.rings())
    mark = rig.box_log_mark("box-a")
    bob.call(ALICE)
    try:
        line = rig.wait_box_event("box-a", "call.filtered", mark, timeout=25)
        assert "how=reject" in line, line
        time.sleep(4.0)
        c = exchange_call(rig, BOB, ALICE)
        assert c is not None and c["state"] != "connected", c
    finally:
        bob.hang_up()
    assert len(phone_a.rings()) == before
    rec = record_of(rig, ALICE)
    assert (rec["outcome"], rec["end_reason"]) == ("filtered", "filtered-reject"), rec
    rig.wait_box_event("box-a", r"line\.ended", mark, timeout=20)
    # a schedule in alice's zone (Tokyo): "now" there ±1 h is inside, so the filter sends BOB to voicemail
    tokyo = zoneinfo.ZoneInfo("Asia/Tokyo")
    here = dt.datetime.now(tokyo)
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

    def window(start: dt.datetime) -> str:  # two hours from ``start`` (a window may pass midnight)
        return f"{days[start.weekday()]}@{start:%H:%M}-{start + dt.timedelta(hours=2):%H:%M}"

    inside, outside = window(here - dt.timedelta(hours=1)), window(here + dt.timedelta(hours=3))
    cloud(rig, "profile", "set", "alice", "--timezone", "Asia/Tokyo")
    set_filters(rig, "box-a", "--schedule", f"work={inside}", "--add", "busy:voicemail:schedule=work")
    before_vm = len(cloud(rig, "voicemail", "list", "alice"))
    mark = rig.box_log_mark("box-a")
    bob.call(ALICE)
    try:
        line = rig.wait_box_event("box-a", "call.filtered", mark, timeout=25)
        assert "how=voicemail" in line, line
        rig.wait_box_event("box-a", "voicemail.recording", mark, timeout=20)
        greeting = rig.boxes["box-a"].dir / "data" / "prompts" / "greeting-15550100001.wav"
        with wave.open(str(greeting), "rb") as w:
            time.sleep(w.getnframes() / 8000 + 0.2 + 0.4 + 0.6)  # the greeting, the pause, the beep
        bob.play(write_tone(tmp_path / "bob-vm.wav", 600.0, 3.0))
        time.sleep(3.5)
    finally:
        bob.hang_up()
    rig.wait_box_event("box-a", "voicemail.recorded", mark, timeout=20)
    deadline = time.monotonic() + 30
    while len(msgs := cloud(rig, "voicemail", "list", "alice")) == before_vm:
        assert time.monotonic() < deadline, "no message filed"
        time.sleep(0.5)
    assert msgs[-1]["state"] == "new" and msgs[-1]["duration_s"] >= 2.0, msgs[-1]
    assert len(phone_a.rings()) == before
    # the same filter outside its window: alice's handset rings
    set_filters(rig, "box-a", "--schedule", f"work={outside}", "--add", "busy:voicemail:schedule=work")
    bob.call(ALICE)
    try:
        deadline = time.monotonic() + 25
        while len(phone_a.rings()) == before:
            assert time.monotonic() < deadline, "alice's handset did not ring outside the schedule"
            time.sleep(0.1)
    finally:
        bob.hang_up()
    cloud(rig, "filters", "alice", "--clear", "--drop-schedule", "work")


def test_a_budget_reached_mid_call_is_warned_then_cut(rig: RigRunner, tmp_path: Path) -> None:
    """alice at box-b calls Dave out through box-a's line with a budget of 0.7 at 1.0 a minute: 42 s of
    calling; warned 30 s before (box-b's call.limit-warning) and cut at the budget (both legs)."""
    cloud(rig, "rights", "alice", ALICE, "--call-out", "yes", "--spend-limit", "0.7", "--rate", "1.0")
    mark_b = rig.box_log_mark("box-b")
    rig.insert("alice-card", "box-b")
    rig.wait_box_event("box-b", "registered", mark_b)
    phone = rig.handset("box-b")
    dave = rig.pstn(DAVE)
    try:
        mark_a, mark_b = rig.box_log_mark("box-a"), rig.box_log_mark("box-b")
        phone.lift()
        phone.key_dtmf("15550400004")
        rig.wait_box_event("box-b", r"call\.placing .*number=\+15550400004", mark_b, timeout=15)
        wait_connected(rig, ALICE, DAVE)
        # Dave speaks (a POTS answer is inferred from voice; box-a's voice stream may start seconds late)
        dave.play(write_tone(tmp_path / "dave.wav", 440.0, 15.0))
        rig.wait_box_event("box-b", r"call\.answered", mark_b, timeout=30)
        started = time.monotonic()
        rig.wait_box_event("box-b", r"call\.limit-warning", mark_b, timeout=30)
        warned = time.monotonic() - started
        rig.wait_box_event("box-b", r"call\.ended", mark_b, timeout=45)
        rig.wait_box_event("box-a", r"line\.ended", mark_a, timeout=20)
        assert warned < 20.0  # ~12 s after the dial, well before the cut
    finally:
        phone.hang_up()
        dave.hang_up()
        gone = rig.box_log_mark("box-b")
        rig.remove("alice-card")
        rig.wait_box_event("box-b", "holder-wiped", gone, timeout=15)
    rec = record_of(rig, DAVE)
    assert (rec["route"], rec["end_reason"]) == ("host-line", "limit"), rec
    right = cloud(rig, "rights", "alice", ALICE)
    assert 0.0 < right["spent"] <= 0.7 + 1e-6, right  # billed from the (inferred) answer to the cut
    cloud(rig, "rights", "alice", ALICE, "--revoke")
    cloud(rig, "rights", "alice", ALICE, "--call-out", "yes")  # as the rig granted it
