"""``*98`` with a voicemail PIN, through real box processes on the demo rig (the registry on SQLite, real
QUIC, the exchange simulator, virtual cards behind pcscd, attached handsets): the PIN is set with
``roamline cloud profile set --pin``, box-b never holds its hash, alice hears "enter your PIN" (the
espeak-ng prompt made at set-up), a wrong PIN is refused by the registry, the right one plays her
message; three wrong ones end the session."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from roamline.hil.rig import load_rig
from roamline.hil.rigrun import RigRunner

from .test_box_profile import best_match
from .test_box_voicemail import cloud, leave_message, messages, tone_seconds, wait_messages, wav_samples


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RigRunner]:
    runner = RigRunner(load_rig("demo"), Path(tmp_path_factory.mktemp("vm-pin")))
    with runner:
        yield runner


def test_star_98_asks_for_the_pin_refuses_a_wrong_one_and_plays_after_the_right_one(
        rig: RigRunner, tmp_path: Path) -> None:
    shown = cloud(rig, "profile", "set", "alice", "--pin", "2468")
    assert shown["profile"]["voicemail"]["pin_hash"] == "set"
    mark = rig.box_log_mark("box-a")
    leave_message(rig, tmp_path, hz=800.0, seconds=3.0, mark=mark)
    rig.wait_box_event("box-a", "voicemail.recorded", mark, timeout=20)
    (msg,) = wait_messages(rig, 1)
    mark_b = rig.box_log_mark("box-b")
    rig.insert("alice-card", "box-b")
    rig.wait_box_event("box-b", "registered", mark_b)
    time.sleep(0.5)  # the holder's cache is written
    for f in (rig.boxes["box-b"].dir / "data").glob("box.db*"):  # the database and its WAL
        assert b"pbkdf2" not in f.read_bytes(), f
    phone = rig.handset("box-b")
    phone.lift()
    time.sleep(0.5)
    phone.record_start()  # from the dial on: the prompt follows the registry's answer at once
    phone.dial("*98")
    rig.wait_box_event("box-b", "voicemail.mailbox", mark_b, timeout=15)
    prompt = rig.boxes["box-b"].dir / "data" / "prompts" / "vm-pin.wav"
    time.sleep(len(wav_samples(prompt)) / 8000 + 1.0)
    asked = tmp_path / "asked.wav"
    phone.record_stop(asked)
    assert best_match(wav_samples(asked), wav_samples(prompt)) > 0.5, "alice was not asked for her PIN"
    wrong = rig.box_log_mark("box-b")
    phone.key_dtmf("1357#")
    assert "result=wrong" in rig.wait_box_event("box-b", "voicemail.pin", wrong, timeout=15)
    time.sleep(3.0)  # "That PIN is not right. Please enter your PIN …" (keys count during it too)
    right = rig.box_log_mark("box-b")
    phone.key_dtmf("2468#")
    assert "result=ok" in rig.wait_box_event("box-b", "voicemail.pin", right, timeout=15)
    phone.record_start()
    line = rig.wait_box_event("box-b", "voicemail.playing", right, timeout=15)
    assert msg["message_id"] in line, line
    time.sleep(msg["duration_s"] + 1.0)
    heard = tmp_path / "earpiece.wav"
    phone.record_stop(heard)
    assert tone_seconds(wav_samples(heard), 800.0) >= 2.0  # her message, after the right PIN
    phone.hang_up()
    time.sleep(1.2)
    # three wrong PINs: said so, the session ends (reorder), nothing is listed or deleted
    phone.lift()
    time.sleep(0.5)
    again = rig.box_log_mark("box-b")
    phone.dial("*98")
    rig.wait_box_event("box-b", "voicemail.mailbox", again, timeout=15)
    time.sleep(1.0)
    for _ in range(3):
        step = rig.box_log_mark("box-b")
        phone.key_dtmf("0000#")
        rig.wait_box_event("box-b", "voicemail.pin", step, timeout=15)
    failed = rig.wait_box_event("box-b", "voicemail.mailbox-failed", again, timeout=15)
    assert "vm-pin-failed" in failed, failed
    assert [m["message_id"] for m in messages(rig)] == [msg["message_id"]]
    phone.hang_up()
    cloud(rig, "voicemail", "delete", msg["message_id"])
    cloud(rig, "profile", "set", "alice", "--clear-pin")
    rig.remove("alice-card")
    rig.wait_boxes_settled()


def test_911_keyed_at_the_pin_prompt_goes_out_the_line_at_once(rig: RigRunner) -> None:
    cloud(rig, "profile", "set", "alice", "--pin", "2468")
    mark = rig.box_log_mark("box-b")
    rig.insert("alice-card", "box-b")
    rig.wait_box_event("box-b", "registered", mark)
    phone = rig.handset("box-b")
    try:
        phone.lift()
        time.sleep(0.5)
        phone.dial("*98")
        rig.wait_box_event("box-b", "voicemail.mailbox", mark, timeout=15)
        time.sleep(0.5)  # "Please enter your PIN …" is playing
        phone.key_dtmf("911")
        told = rig.wait_box_event("box-b", r"emergency\.dialled", mark, timeout=10)
        assert "route=own-line" in told, told
        deadline = time.monotonic() + 15
        while not any(c["caller"] == "15550200002" and c["callee"] == "911"
                      for c in rig.exchange_status()["calls"]):
            assert time.monotonic() < deadline, rig.exchange_status()["calls"]
            time.sleep(0.1)
        proc = rig.boxes["box-b"].process
        since = proc.output()[-(proc.mark() - mark):]
        assert not any(" voicemail.pin " in line for line in since), since  # no PIN went anywhere
    finally:
        hung = rig.box_log_mark("box-b")
        phone.hang_up()
        rig.pstn("911").hang_up()
    rig.wait_box_event("box-b", "on-hook", hung, timeout=10)
    cloud(rig, "profile", "set", "alice", "--clear-pin")
    rig.remove("alice-card")
    rig.wait_boxes_settled()
