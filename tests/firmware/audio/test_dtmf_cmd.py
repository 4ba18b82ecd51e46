"""`roamline box diag dtmf FILE.wav --json` on WAVs of every common rate, channel count and width."""

from __future__ import annotations

import json
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from roamline.firmware.audio import dtmf
from roamline.hil.dtmf_signal import keys_signal

KEYS = "0123456789*#ABCD"


def _write(path: Path, x: np.ndarray, rate: int, channels: int, width: int) -> None:
    if channels == 2:
        x = np.stack([x, 0.5 * x], axis=1).reshape(-1)
    if width == 1:
        raw = np.clip(np.round(x * 127 + 128), 0, 255).astype(np.uint8).tobytes()
    else:
        raw = np.round(x * 32767).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(raw)


def _face(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "roamline.cli.main", "box", "diag", "dtmf", *args],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("rate", "channels", "width"),
                         [(8000, 1, 2), (16000, 1, 2), (44100, 2, 2), (48000, 1, 1), (48000, 2, 2),
                          (8000, 2, 1)])
def test_reads_common_wavs(tmp_path: Path, rate: int, channels: int, width: int) -> None:
    from roamline.firmware.audio import dtmf_cmd

    path = tmp_path / "keys.wav"
    _write(path, keys_signal(KEYS, rate=rate, level_dbm0=-6.0), rate, channels, width)
    x, got_rate = dtmf_cmd.read_wav(path)
    assert got_rate == rate
    assert dtmf.digits(x, rate) == KEYS


def test_the_command_prints_json_last(tmp_path: Path) -> None:
    path = tmp_path / "keys.wav"
    _write(path, keys_signal("911#", rate=44100), 44100, 2, 2)
    done = _face(str(path), "--json", "--verbose")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert json.loads(lines[-1]) == {"digits": "911#"}
    assert len(lines) == 5  # one per key, then the JSON


def test_a_file_that_is_not_a_wav_fails_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    done = _face(str(path), "--json")
    assert done.returncode == 1
    assert "not a PCM WAV" in done.stderr and len(done.stderr.strip().splitlines()) == 1
