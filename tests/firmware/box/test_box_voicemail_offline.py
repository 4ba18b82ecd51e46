"""The registry unreachable when the host line rings, through real box processes on the demo rig (the
registry on SQLite, real QUIC, the exchange simulator's modems, virtual cards behind pcscd, attached
handsets). Nobody can ask box-a for a message: box-a answers its own line itself after the line owner's
voicemail timeout (the profile's default, 25 s), says the default greeting, records BOB's tone and queues
it (id ``vo-…``); with the registry back the message is filed for alice exactly once with its missed-call
record, and message waiting comes on at box-b where her card is."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from roamline.hil.rig import load_rig
from roamline.hil.rigrun import RigRunner

from .test_box_voicemail import (
    ALICE,
    BOB,
    cloud,
    leave_message,
    tone_seconds,
    wait_messages,
    wav_samples,
    write_tone,
)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RigRunner]:
    runner = RigRunner(load_rig("demo"), Path(tmp_path_factory.mktemp("vm-offline")))
    with runner:
        yield runner


CAROL = "+15550200002"  # box-b's host line (mt9234mu, full duplex)


def test_box_b_mt9234mu_line_takes_a_message_for_carol(rig: RigRunner, tmp_path: Path) -> None:
    """The full-duplex mt9234mu takes a message as the cx93001 does (carol's card is in no box)."""
    mark = rig.box_log_mark("box-b")
    bob = rig.pstn(BOB)
    bob.call(CAROL)
    try:
        line = rig.wait_box_event("box-b", "voicemail.(recording|refused)", mark, timeout=30)
        assert "voicemail.recording" in line, line
        greeting = rig.boxes["box-b"].dir / "data" / "prompts" / "greeting-15550200002.wav"
        time.sleep(0.3 + len(wav_samples(greeting)) / 8000 + 0.2 + 0.4 + 0.3)
        bob.play(write_tone(tmp_path / "say-650.wav", 650.0, 3.0))
        time.sleep(3.5)
    finally:
        bob.hang_up()
    rig.wait_box_event("box-b", "voicemail.recorded", mark, timeout=20)
    deadline = time.monotonic() + 30
    got: list[Any] = []
    while not got and time.monotonic() < deadline:
        got = list(cloud(rig, "voicemail", "list", "carol"))
        time.sleep(0.5)
    (msg,) = got
    out = tmp_path / "carol.wav"
    cloud(rig, "voicemail", "play", msg["message_id"], "--out", str(out))
    assert tone_seconds(wav_samples(out), 650.0) >= 2.5
    cloud(rig, "voicemail", "delete", msg["message_id"])


def test_a_message_taken_with_the_registry_down_is_filed_once_when_it_is_back(
        rig: RigRunner, tmp_path: Path) -> None:
    mark_b = rig.box_log_mark("box-b")
    rig.insert("alice-card", "box-b")
    rig.wait_box_event("box-b", "registered", mark_b)
    phone = rig.handset("box-b")
    mark = rig.box_log_mark("box-a")
    rig.stop_registry()
    rig.wait_box_event("box-a", "link-down", mark, timeout=60)
    rings = len(phone.rings())
    leave_message(rig, tmp_path, hz=500.0, seconds=3.0, mark=mark, timeout=45)
    answering = rig.wait_box_event("box-a", "voicemail.answering", mark, timeout=5)
    assert "offline=True" in answering, answering
    line = rig.wait_box_event("box-a", "voicemail.recorded", mark, timeout=20)
    assert "ended=hangup" in line, line
    assert len(phone.rings()) == rings  # nobody could ring alice's handset: the registry was away
    store = rig._box_store("box-a")
    try:
        waiting = [i.kind for i in store.pending()]
    finally:
        store.close()
    assert "voicemail.chunk" in waiting and "call-record" in waiting, waiting
    mark_b = rig.box_log_mark("box-b")
    rig.serve_registry(rig.port)
    got = wait_messages(rig, 1, timeout=60)
    assert len(got) == 1, got
    (msg,) = got
    assert msg["message_id"].startswith("vo-") and msg["number"] == ALICE, msg
    assert (msg["state"], msg["caller"].lstrip("+"), msg["call_record"]) == ("new", BOB[1:], True), msg
    calls = cloud(rig, "calls", "--number", ALICE)
    (rec,) = [c for c in calls if c["call_id"] == msg["call_id"]]
    assert rec["outcome"] == "missed", rec
    out = tmp_path / "offline.wav"
    cloud(rig, "voicemail", "play", msg["message_id"], "--out", str(out))
    assert tone_seconds(wav_samples(out), 500.0) >= 2.5  # what BOB said
    # message waiting on at box-b, where alice's card is (registered again, or pushed)
    rig.wait_box_event("box-b", "registered", mark_b, timeout=90)
    deadline = time.monotonic() + 30
    while not (phone.message_waiting() and phone.message_waiting()[-1]["active"]) \
            and time.monotonic() < deadline:
        time.sleep(0.3)
    assert phone.message_waiting() and phone.message_waiting()[-1]["active"] is True, \
        "\n".join(rig.boxes["box-b"].process.output()[-40:])
    # exactly once: box-a's outbox is empty, and a while later there is still one message
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        store = rig._box_store("box-a")
        try:
            left = [i.kind for i in store.pending() if i.kind in ("voicemail.chunk", "call-record")]
        finally:
            store.close()
        if not left:
            break
        time.sleep(0.5)
    assert left == []
    time.sleep(2.0)
    assert len(wait_messages(rig, 2, timeout=1)) == 1


def test_a_card_moved_mid_message_gets_message_waiting_where_it_is_now(
        rig: RigRunner, tmp_path: Path) -> None:
    """Issue 10's done-when "a card moved mid-message": alice's card in box-b, a 6 s timeout, nobody lifts;
    while BOB's message is recorded at box-a the card moves from box-b into box-a. The message is stored
    once, whole, and message waiting comes on at box-a (where the card is now), not left at box-b."""
    for old in messages_of(rig, "alice"):
        cloud(rig, "voicemail", "delete", old["message_id"])
    cloud(rig, "profile", "set", "alice", "--voicemail-timeout", "6")
    if rig.card_place.get("alice-card") != "box-b":
        mark_b = rig.box_log_mark("box-b")
        rig.insert("alice-card", "box-b")
        rig.wait_box_event("box-b", "registered", mark_b)
    phone_a = rig.handset("box-a")
    mark_a2 = 0

    def move() -> None:
        nonlocal mark_a2
        mark_a2 = rig.box_log_mark("box-a")
        rig.insert("alice-card", "box-a")  # out of box-b, into box-a, while BOB speaks

    mark = rig.box_log_mark("box-a")
    leave_message(rig, tmp_path, hz=550.0, seconds=4.0, mark=mark, timeout=30, during=move)
    line = rig.wait_box_event("box-a", "voicemail.recorded", mark, timeout=20)
    assert "ended=hangup" in line, line
    rig.wait_box_event("box-a", "registered", mark_a2, timeout=20)
    (msg,) = wait_messages(rig, 1, timeout=30)
    assert msg["call_record"] is True, msg
    out = tmp_path / "moved.wav"
    cloud(rig, "voicemail", "play", msg["message_id"], "--out", str(out))
    assert tone_seconds(wav_samples(out), 550.0) >= 3.0  # the move did not cut the message
    deadline = time.monotonic() + 20
    while not (phone_a.message_waiting() and phone_a.message_waiting()[-1]["active"]) \
            and time.monotonic() < deadline:
        time.sleep(0.3)
    assert phone_a.message_waiting() and phone_a.message_waiting()[-1]["active"] is True
    time.sleep(2.0)
    assert len(messages_of(rig, "alice")) == 1  # once


def messages_of(rig: RigRunner, account: str) -> list[dict[str, Any]]:
    return list(cloud(rig, "voicemail", "list", account))
