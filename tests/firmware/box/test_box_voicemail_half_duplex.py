"""A half-duplex modem (usr5637: no +VTR) still takes messages, through real box processes: the demo rig
with box-a's host line on a usr5637 (``purpose = "messages"``). BOB calls alice's number with her card in
no box; box-a answers, says the greeting and the beep in voice transmit (+VTX), turns to voice receive
(+VRX) and records BOB's tone; the registry stores it with the missed call."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from roamline.hil.rig import RIGS, load_rig
from roamline.hil.rigrun import RigRunner

from .test_box_profile import best_match
from .test_box_voicemail import ALICE, BOB, cloud, leave_message, tone_seconds, wait_messages, wav_samples

FULL = 'line = { number = "+15550100001", modem = "cx93001" }'
HALF = 'line = { number = "+15550100001", modem = "usr5637", purpose = "messages" }'


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RigRunner]:
    work = Path(tmp_path_factory.mktemp("vm-half"))
    text = (RIGS / "demo.toml").read_text()
    assert FULL in text
    spec = work / "half.toml"
    spec.write_text(text.replace(FULL, HALF))
    runner = RigRunner(load_rig(spec), work / "rig")
    with runner:
        yield runner


def test_a_half_duplex_line_takes_a_message_with_the_callers_voice_in_it(
        rig: RigRunner, tmp_path: Path) -> None:
    # the box says at start that this line cannot bridge a conversation
    running = rig.boxes["box-a"].process.wait_for(r'"bridge": *(true|false)', timeout=5)
    assert running.group(1) == "false", running.string
    mark = rig.box_log_mark("box-a")
    heard = leave_message(rig, tmp_path, hz=700.0, seconds=3.0, mark=mark)
    line = rig.wait_box_event("box-a", "voicemail.recorded", mark, timeout=20)
    assert "ended=hangup" in line, "\n".join(rig.boxes["box-a"].process.output()[-60:])
    greeting = rig.boxes["box-a"].dir / "data" / "prompts" / "greeting-15550100001.wav"
    bob_heard = wav_samples(heard)
    assert tone_seconds(bob_heard, 1000.0) >= 0.3  # the beep, sent in voice transmit
    assert best_match(bob_heard, wav_samples(greeting)) > 0.5
    (msg,) = wait_messages(rig, 1)
    assert (msg["state"], msg["number"], msg["call_record"]) == ("new", ALICE, True), msg
    assert msg["caller"].lstrip("+") == BOB[1:]
    calls = cloud(rig, "calls", "--number", ALICE)
    (rec,) = [c for c in calls if c["call_id"] == msg["call_id"]]
    assert rec["outcome"] == "missed", rec
    out = tmp_path / "stored.wav"
    cloud(rig, "voicemail", "play", msg["message_id"], "--out", str(out))
    stored = wav_samples(out)
    assert tone_seconds(stored, 700.0) >= 2.5  # BOB's tone, received after the turn to +VRX
    assert tone_seconds(stored, 1000.0) < 0.1  # not the beep (sent before the turn)


def test_a_spoken_refusal_on_a_half_duplex_line_is_heard(rig: RigRunner, tmp_path: Path) -> None:
    """A block filter on alice's number: box-a's usr5637 answers in voice receive (+VRX) and must turn to
    voice transmit (+VTX) before the refusal, or BOB hears nothing."""
    from .test_box_profile import cloud as cloud_json

    cloud_json(rig, "filters", "alice", "--add", f"bob:block:prefixes={BOB}")
    mark = rig.box_log_mark("box-a")
    rig.insert("alice-card", "box-a")
    rig.wait_box_event("box-a", "registered", mark)
    bob = rig.pstn(BOB)
    bob.call(ALICE)
    try:
        line = rig.wait_box_event("box-a", "call.filtered", mark, timeout=25)
        assert "how=block" in line, line
        rig.wait_box_event("box-a", "line.ended", mark, timeout=20)  # said, then hung up
        heard = tmp_path / "bob-heard.wav"
        bob.record(heard)
    finally:
        bob.hang_up()
        cloud_json(rig, "filters", "alice", "--clear")
        gone = rig.box_log_mark("box-a")
        rig.remove("alice-card")
        rig.wait_box_event("box-a", "holder-wiped", gone, timeout=15)
    prompt = rig.boxes["box-a"].dir / "data" / "prompts" / "refused-filtered.wav"
    score = best_match(wav_samples(heard), wav_samples(prompt))
    assert score > 0.5, f"bob did not hear the refusal on the half-duplex line (correlation {score:.2f})"
