"""`roamline cloud voicemail list|play|delete` on a real registry store holding a delivered message."""

from __future__ import annotations

import json
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from roamline.cli.main import main
from roamline.cloud import voicemail
from roamline.cloud.records import CallRecord
from roamline.cloud.sqlite_store import SqliteStore
from roamline.wire import profile as wp
from roamline.wire import voicemail as wvm

NUMBER = "+15550100001"
CALL = "box-h-00000000000001"


def _tone_ulaw(seconds: float) -> bytes:
    from roamline.firmware.audio import g711  # the box's codec: what the stored bytes mean

    t = np.arange(int(8000 * seconds)) / 8000
    return bytes(g711.encode("ulaw", (np.sin(2 * np.pi * 700 * t) * 8000).astype(np.int16)))


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, str]:
    d = tmp_path / "reg"
    assert main(["cloud", "ca", "init", "--data", str(d)]) == 0
    assert main(["cloud", "account", "create", "--data", str(d), "--name", "Alice", "--id", "alice",
                 "--number", NUMBER]) == 0
    with SqliteStore(d / "registry.db") as store:
        store.open_call(CallRecord(call_id=CALL, route="incoming", caller="+15550300003", called=NUMBER,
                                   created=1.0, state="closed", outcome="missed"))
        take = voicemail.take(store, call_id=CALL, account_id="alice", number=NUMBER, host_box="box-h",
                              caller="+15550300003", caller_name="BOB JONES", now=2.0)
        meta = wvm.Meta(call_id=CALL, number=NUMBER, caller="+15550300003", caller_name="BOB JONES",
                        started_at=3.0, ended_at=8.0, duration_s=5.0, ended="hangup")
        for c in wvm.split(take.message_id, _tone_ulaw(5.0), meta):
            voicemail.receive_chunk(store, "box-h", c.to_json(), 9.0)
    return d, take.message_id


def run(capsys: Any, *argv: str) -> tuple[int, Any, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    try:
        return rc, json.loads(out.strip().splitlines()[-1]), err
    except (ValueError, IndexError):
        return rc, out, err


def waiting(d: Path) -> int:
    with SqliteStore(d / "registry.db") as store:
        got = store.get_profile("alice")
    assert got is not None
    return wp.parse(got[0]).waiting


def test_list_play_save_delete(data: tuple[Path, str], capsys: Any, tmp_path: Path) -> None:
    d, mid = data
    rc, listed, _ = run(capsys, "cloud", "voicemail", "list", "--data", str(d), "alice", "--json")
    assert rc == 0 and [(m["message_id"], m["state"], m["caller_name"], m["duration_s"], m["call_id"],
                         m["call_record"]) for m in listed] == [(mid, "new", "BOB JONES", 5.0, CALL, True)]
    assert waiting(d) == 1
    out = tmp_path / "msg.wav"
    rc, played, _ = run(capsys, "cloud", "voicemail", "play", "--data", str(d), mid, "--out", str(out),
                        "--save", "--json")
    assert rc == 0 and played["seconds"] == 5.0 and played["saved"] is True
    with wave.open(str(out), "rb") as w:
        assert (w.getframerate(), w.getsampwidth(), w.getnchannels(), w.getnframes()) == (8000, 2, 1, 40000)
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(float)
    spectrum = np.abs(np.fft.rfft(x))
    assert abs(np.argmax(spectrum) * 8000 / len(x) - 700) < 2  # the tone that was recorded
    assert waiting(d) == 0  # saved: no longer waiting
    rc, text, _ = run(capsys, "cloud", "voicemail", "list", "--data", str(d), "Alice")
    assert rc == 0 and f"{mid}: saved, from +15550300003 (BOB JONES)" in text
    rc, gone, _ = run(capsys, "cloud", "voicemail", "delete", "--data", str(d), mid, "--json")
    assert rc == 0 and gone["message_id"] == mid
    rc, listed, _ = run(capsys, "cloud", "voicemail", "list", "--data", str(d), "alice", "--json")
    assert listed == []
    with SqliteStore(d / "registry.db") as store:
        assert store.get_call(CALL) is not None  # the missed call stays


def test_the_cloud_decoder_matches_the_box_codec() -> None:
    from roamline.cloud.cmd.voicemail_play import _ulaw_decode
    from roamline.firmware.audio import g711

    codes = np.arange(256, dtype=np.uint8)
    assert np.array_equal(_ulaw_decode(codes), g711.decode("ulaw", codes.tobytes()))


@pytest.mark.parametrize(("argv", "message"), [
    (["list", "{d}", "nobody"], "no account"),
    (["play", "{d}", "vm-nope", "--out", "{tmp}/x.wav"], "no message"),
    (["play", "{d}", "bad id!", "--out", "{tmp}/x.wav"], "identifier"),
    (["play", "{d}", "vm-x", "--out", "{tmp}/no/such/x.wav"], "directory does not exist"),
    (["delete", "{d}", "vm-nope"], "no message"),
])
def test_bad_input_is_refused_in_one_line(data: tuple[Path, str], capsys: Any, tmp_path: Path,
                                          argv: list[str], message: str) -> None:
    d, _ = data
    real = [a.format(d=d, tmp=tmp_path) for a in argv]
    rc = main(["cloud", "voicemail", real[0], "--data", *real[1:]])
    _, err = capsys.readouterr()
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1
