"""Voicemail deposit end to end through real box processes on the demo rig: the registry (router) on
SQLite, real QUIC, the exchange simulator's modems, virtual cards behind pcscd, attached handsets.

BOB (a PSTN phone) calls alice's number, box-a's host line. Nobody answers (or alice's card is in no
box): box-a's line answers, plays the greeting naming the number and a beep, records what BOB says (a
tone, so the stored audio can be checked), and delivers it in chunks through its outbox; the registry
stores it with the missed call and message waiting comes on at the box where alice's card is."""

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

from .test_box_profile import best_match

ALICE = "+15550100001"  # alice's follow-me number: box-a's host line
BOB = "+15550300003"


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RigRunner]:
    runner = RigRunner(load_rig("demo"), Path(tmp_path_factory.mktemp("voicemail")))
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


def wav_samples(path: Path) -> np.ndarray[Any, Any]:
    with wave.open(str(path), "rb") as w:
        assert w.getframerate() == 8000
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)


def tone_seconds(x: np.ndarray[Any, Any], hz: float) -> float:
    """How many seconds of ``x`` (20 ms blocks) hold mostly ``hz`` (Goertzel power vs the block's)."""
    n = 160
    k = np.exp(-2j * np.pi * hz * np.arange(n) / 8000)
    found = 0
    for i in range(0, len(x) - n + 1, n):
        block = x[i:i + n]
        total = float(np.sum(block ** 2))
        if total < n * 100.0 ** 2:  # quieter than −50 dBFS
            continue
        power = abs(np.dot(block, k)) ** 2 * 2 / n
        if power / total > 0.6:
            found += 1
    return found * n / 8000


def messages(rig: RigRunner) -> list[dict[str, Any]]:
    return list(cloud(rig, "voicemail", "list", "alice"))


def wait_messages(rig: RigRunner, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        got = messages(rig)
        if len(got) >= count or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


def leave_message(rig: RigRunner, tmp_path: Path, *, hz: float, seconds: float, mark: int,
                  timeout: float = 25.0, during: Any = None) -> Path:
    """BOB calls alice's number, waits for the beep, says a tone, hangs up; returns what BOB heard."""
    bob = rig.pstn(BOB)
    bob.call(ALICE)
    try:
        rig.wait_box_event("box-a", "voicemail.recording", mark, timeout=timeout)
        time.sleep(0.3)
        greeting = rig.boxes["box-a"].dir / "data" / "prompts" / "greeting-15550100001.wav"
        time.sleep(len(wav_samples(greeting)) / 8000 + 0.2 + 0.4 + 0.3)  # greeting, pause, beep
        if during is not None:
            during()
        bob.play(write_tone(tmp_path / f"say-{hz:g}.wav", hz, seconds))
        time.sleep(seconds + 0.5)
        heard = tmp_path / "bob-heard.wav"
        bob.record(heard)
    finally:
        bob.hang_up()
    return heard


def test_a_holder_in_no_box_gets_a_message_that_turns_message_waiting_on_where_the_card_goes(
        rig: RigRunner, tmp_path: Path) -> None:
    mark = rig.box_log_mark("box-a")
    heard = leave_message(rig, tmp_path, hz=700.0, seconds=3.0, mark=mark)
    line = rig.wait_box_event("box-a", "voicemail.recorded", mark, timeout=20)
    assert "ended=hangup" in line, line
    # BOB heard the greeting naming the number, then the beep
    greeting = rig.boxes["box-a"].dir / "data" / "prompts" / "greeting-15550100001.wav"
    said = wav_samples(greeting)
    bob_heard = wav_samples(heard)
    assert tone_seconds(bob_heard, 1000.0) >= 0.3  # the beep
    assert best_match(bob_heard, said) > 0.5
    (msg,) = wait_messages(rig, 1)
    # the caller as the line gave it (the exchange sends digits without '+'), as in the call record
    assert (msg["state"], msg["caller"].lstrip("+"), msg["caller_name"]) == ("new", BOB[1:], "BOB JONES")
    assert msg["number"] == ALICE
    assert msg["call_record"] is True and 2.5 <= msg["duration_s"] <= 5.0, msg
    calls = cloud(rig, "calls", "--number", ALICE)
    (rec,) = [c for c in calls if c["call_id"] == msg["call_id"]]
    assert rec["outcome"] == "missed", rec
    out = tmp_path / "stored.wav"
    cloud(rig, "voicemail", "play", msg["message_id"], "--out", str(out))
    assert tone_seconds(wav_samples(out), 700.0) >= 2.5  # what BOB said is in the stored audio
    assert tone_seconds(wav_samples(out), 1000.0) < 0.1  # not the greeting's beep
    # alice's card goes in at box-b: message waiting is on at once (registered carries waiting = 1)
    phone = rig.handset("box-b")
    before = len(phone.message_waiting())
    mark_b = rig.box_log_mark("box-b")
    rig.insert("alice-card", "box-b")
    rig.wait_box_event("box-b", "registered", mark_b)
    deadline = time.monotonic() + 15
    while len(phone.message_waiting()) == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert phone.message_waiting()[-1]["active"] is True
    # deleted: the registry pushes waiting = 0 and the indicator goes off
    cloud(rig, "voicemail", "delete", msg["message_id"])
    deadline = time.monotonic() + 15
    while phone.message_waiting()[-1]["active"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert phone.message_waiting()[-1]["active"] is False
    rig.remove("alice-card")
    rig.wait_boxes_settled()


def test_nobody_answering_leaves_a_message_larger_than_one_frame(rig: RigRunner, tmp_path: Path) -> None:
    cloud(rig, "profile", "set", "alice", "--voicemail-timeout", "6")
    mark_b = rig.box_log_mark("box-b")
    rig.insert("alice-card", "box-b")
    rig.wait_box_event("box-b", "registered", mark_b)
    phone = rig.handset("box-b")
    rings = len(phone.rings())
    mark = rig.box_log_mark("box-a")
    leave_message(rig, tmp_path, hz=600.0, seconds=10.0, mark=mark, timeout=30)
    assert len(phone.rings()) > rings  # alice's handset rang first; nobody lifted it
    line = rig.wait_box_event("box-a", "voicemail.recorded", mark, timeout=25)
    assert int(line.split("chunks=")[1].split()[0]) >= 3, line  # > 64 KiB: ≥ 3 chunks of ≤ 32 000 bytes
    (msg,) = wait_messages(rig, 1)
    assert msg["audio_bytes"] > 65536, msg
    out = tmp_path / "long.wav"
    cloud(rig, "voicemail", "play", msg["message_id"], "--out", str(out))
    assert tone_seconds(wav_samples(out), 600.0) >= 9.0
    # the card is in: the registry's push turns message waiting on at box-b
    deadline = time.monotonic() + 15
    while not (phone.message_waiting() and phone.message_waiting()[-1]["active"]) \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    assert phone.message_waiting()[-1]["active"] is True
    cloud(rig, "voicemail", "delete", msg["message_id"])
    rig.remove("alice-card")
    rig.wait_boxes_settled()


def test_a_message_recorded_while_the_cloud_is_down_is_delivered_once_after(rig: RigRunner,
                                                                             tmp_path: Path) -> None:
    mark = rig.box_log_mark("box-a")
    leave_message(rig, tmp_path, hz=500.0, seconds=3.0, mark=mark, during=rig.stop_registry)
    line = rig.wait_box_event("box-a", "voicemail.recorded", mark, timeout=20)
    chunks = int(line.split("chunks=")[1].split()[0])
    store = rig._box_store("box-a")
    try:
        waiting = [i for i in store.pending() if i.kind == "voicemail.chunk"]
    finally:
        store.close()
    assert len(waiting) == chunks >= 1  # kept in box-a's outbox while the registry is away
    time.sleep(2.0)
    rig.serve_registry(rig.port)
    got = wait_messages(rig, 1, timeout=60)
    assert len(got) == 1, got
    out = tmp_path / "later.wav"
    cloud(rig, "voicemail", "play", got[0]["message_id"], "--out", str(out))
    assert tone_seconds(wav_samples(out), 500.0) >= 2.5
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        store = rig._box_store("box-a")
        try:
            left = [i for i in store.pending() if i.kind == "voicemail.chunk"]
        finally:
            store.close()
        if not left:
            break
        time.sleep(0.5)
    assert left == []
    time.sleep(2.0)
    assert len(messages(rig)) == 1  # exactly once
    cloud(rig, "voicemail", "delete", got[0]["message_id"])


def test_star_98_at_the_holders_box_plays_the_message_and_7_deletes_it(rig: RigRunner,
                                                                        tmp_path: Path) -> None:
    mark = rig.box_log_mark("box-a")
    leave_message(rig, tmp_path, hz=800.0, seconds=3.0, mark=mark)
    rig.wait_box_event("box-a", "voicemail.recorded", mark, timeout=20)
    (msg,) = wait_messages(rig, 1)
    mark_b = rig.box_log_mark("box-b")
    rig.insert("alice-card", "box-b")
    rig.wait_box_event("box-b", "registered", mark_b)
    phone = rig.handset("box-b")
    deadline = time.monotonic() + 15
    while not (phone.message_waiting() and phone.message_waiting()[-1]["active"]) \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    assert phone.message_waiting()[-1]["active"] is True  # MWI on, sent while the handset is on hook
    phone.lift()
    time.sleep(0.5)
    phone.dial("*98")
    rig.wait_box_event("box-b", "voicemail.mailbox", mark_b, timeout=15)
    phone.record_start()
    line = rig.wait_box_event("box-b", "voicemail.playing", mark_b, timeout=15)
    assert msg["message_id"] in line, line
    time.sleep(msg["duration_s"] + 1.0)
    heard = tmp_path / "earpiece.wav"
    phone.record_stop(heard)
    assert tone_seconds(wav_samples(heard), 800.0) >= 2.0  # the message, in alice's earpiece at box-b
    phone.key_dtmf("7")
    rig.wait_box_event("box-b", "voicemail.marked", mark_b, timeout=15)
    deadline = time.monotonic() + 15
    while messages(rig) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert messages(rig) == []  # deleted at the registry
    phone.hang_up()
    deadline = time.monotonic() + 20  # MWI off goes once the handset is back on hook
    while phone.message_waiting()[-1]["active"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert phone.message_waiting()[-1]["active"] is False
    rig.remove("alice-card")
    rig.wait_boxes_settled()


def test_a_greeting_recorded_from_the_handset_is_what_the_next_caller_hears(rig: RigRunner,
                                                                             tmp_path: Path) -> None:
    mark_b = rig.box_log_mark("box-b")
    rig.insert("alice-card", "box-b")
    rig.wait_box_event("box-b", "registered", mark_b)
    phone = rig.handset("box-b")
    phone.lift()
    time.sleep(0.5)
    phone.dial("*98")
    rig.wait_box_event("box-b", "voicemail.mailbox", mark_b, timeout=15)
    time.sleep(4.0)  # "You have no messages. To record your greeting, press star."
    phone.key_dtmf("*")
    rig.wait_box_event("box-b", "voicemail.greeting-recording", mark_b, timeout=15)
    prompt = rig.boxes["box-b"].dir / "data" / "prompts" / "vm-greeting.wav"
    time.sleep(len(wav_samples(prompt)) / 8000 + 0.4 + 0.5)  # the prompt, then the beep
    phone.tone((440.0,), 2500)  # alice's greeting (a tone, so the caller's side can be checked)
    time.sleep(0.3)
    phone.key_dtmf("#")
    rig.wait_box_event("box-b", "voicemail.greeting-saved", mark_b, timeout=20)
    phone.hang_up()
    shown = cloud(rig, "profile", "show", "alice")
    greeting = shown["profile"]["voicemail"]["greeting"]
    assert greeting.startswith("g-"), shown
    rig.remove("alice-card")
    rig.wait_boxes_settled()
    # BOB calls: box-a's line plays alice's own greeting (fetched from the registry), then the beep
    mark = rig.box_log_mark("box-a")
    heard = leave_message(rig, tmp_path, hz=900.0, seconds=2.0, mark=mark)
    rig.wait_box_event("box-a", "voicemail.recorded", mark, timeout=20)
    bob_heard = wav_samples(heard)
    assert tone_seconds(bob_heard, 440.0) >= 1.5, "BOB did not hear alice's greeting"
    (msg,) = wait_messages(rig, 1)
    cloud(rig, "voicemail", "delete", msg["message_id"])
    cloud(rig, "profile", "set", "alice", "--greeting", "default")
