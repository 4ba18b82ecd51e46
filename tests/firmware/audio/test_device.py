"""Audio devices: backend selection from config, file and loopback behaviour, and the pyaudio backend
against ALSA's file plugin (a private ~/.asoundrc in a subprocess; no sound card here)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import wave
from pathlib import Path

import numpy as np
import pytest

from roamline.firmware.audio.device import AudioConfig, AudioDevice, load_config, make_device
from roamline.firmware.audio.device_file import FileDevice, read_wav, write_wav
from roamline.firmware.audio.device_loopback import LoopbackEnd, LoopbackLine
from roamline.firmware.audio.device_pyaudio import PyAudioDevice
from roamline.firmware.audio.errors import AudioUsageError
from roamline.wire.clock import ManualClock
from roamline.wire.config import ConfigError

RATE = 8000


def sine(n: int, f: float = 440, rate: int = RATE) -> np.ndarray:
    return (8000 * np.sin(2 * np.pi * f * np.arange(n) / rate)).astype(np.int16)


def test_backend_chosen_by_config(tmp_path: Path) -> None:
    assert isinstance(make_device(AudioConfig(backend="pyaudio", rate=48000)), PyAudioDevice)
    assert isinstance(make_device(AudioConfig(backend="file")), FileDevice)
    dev = make_device(AudioConfig(backend="loopback"))
    assert isinstance(dev, LoopbackEnd) and isinstance(dev.peer, LoopbackEnd)
    cfg = tmp_path / "audio.toml"
    cfg.write_text('backend = "file"\nrate = 16000\ninput_path = "in.wav"\n')
    assert load_config(cfg).rate == 16000
    cfg.write_text('backend = "alsa"\n')
    with pytest.raises(ConfigError, match="backend"):
        load_config(cfg)


def test_file_device_plays_a_wav_of_another_rate_and_records(tmp_path: Path) -> None:
    src = tmp_path / "in.wav"
    write_wav(src, sine(48000, 1000, 48000), 48000)  # one second at 48 kHz
    out = tmp_path / "out.wav"
    dev = make_device(AudioConfig(backend="file", input_path=src, output_path=out))
    with dev:
        dev.open()  # idempotent
        got = np.concatenate([dev.read(160) for _ in range(55)])
        dev.write(got)
    dev.close()
    assert len(got) == 55 * 160
    assert np.std(got[:7900].astype(float)) > 5000 and not np.any(got[8100:])  # silence after the end
    spectrum = np.abs(np.fft.rfft(got[:8000].astype(float)))
    assert np.argmax(spectrum) == 1000
    with wave.open(str(out)) as w:
        assert w.getframerate() == RATE and w.getnframes() == len(got)
    assert np.array_equal(read_wav(out, RATE), got)


def test_closed_devices_refuse_io() -> None:
    dev = make_device(AudioConfig(backend="file"))
    with pytest.raises(AudioUsageError):
        dev.read(10)
    with pytest.raises(AudioUsageError):
        LoopbackLine().a.write(np.zeros(3, np.int16))
    with dev, pytest.raises(AudioUsageError):
        dev.write(np.zeros(3, np.float32))


def test_loopback_carries_audio_both_ways_and_pads_silence() -> None:
    line = LoopbackLine(RATE, capacity_s=0.1)
    box, phone = line.a, line.b
    with box, phone:
        phone.write(sine(100))
        got = box.read(160)
        assert np.array_equal(got[:100], sine(100)) and not np.any(got[100:])
        assert box.underrun == 60
        box.write(np.arange(2000, dtype=np.int16))  # more than 0.1 s: the oldest is dropped
        assert box.overflow == 1200
        assert phone.read(800)[0] == 1200


def test_paced_loopback_reads_take_clock_time() -> None:
    clock = ManualClock()
    line = LoopbackLine(RATE, clock=clock, sleep=clock.advance)
    start = clock.monotonic()
    with line.a:
        for _ in range(50):
            line.a.read(160)
    assert clock.monotonic() - start == pytest.approx(1.0)


def test_an_audio_device_is_the_interface() -> None:
    devices = (LoopbackLine().a, FileDevice(RATE, None, None), PyAudioDevice(AudioConfig(backend="pyaudio")))
    for dev in devices:
        assert isinstance(dev, AudioDevice)
        dev.close()  # closing a never-opened device is fine


PYAUDIO_SCRIPT = textwrap.dedent(
    """
    import numpy as np
    from roamline.firmware.audio.device import AudioConfig, make_device
    dev = make_device(AudioConfig(backend="pyaudio", rate=8000, block=160,
                                  input_device="filein", output_device="fileout"))
    dev.open(); dev.open()
    x = np.concatenate([dev.read(160) for _ in range(10)])
    np.save("captured.npy", x)
    dev.write((np.arange(1600) % 256 - 128).astype(np.int16))
    dev.close(); dev.close()
    """
)


@pytest.mark.timeout(60)
def test_pyaudio_backend_through_alsa_file_plugin(tmp_path: Path) -> None:
    pytest.importorskip("pyaudio")
    sent = sine(1600, 440)
    sent.astype("<i2").tofile(tmp_path / "in.raw")
    (tmp_path / ".asoundrc").write_text(textwrap.dedent(f"""
        pcm.!default {{ type asym  playback.pcm "fileout"  capture.pcm "filein" }}
        pcm.nullpcm  {{ type null }}
        pcm.fileout  {{ type file slave.pcm "nullpcm" file "{tmp_path}/out.raw" format "raw" }}
        pcm.filein   {{ type file slave.pcm "nullpcm" file "/dev/null"
                       infile "{tmp_path}/in.raw" format "raw" }}
    """))
    env = dict(os.environ, HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", PYAUDIO_SCRIPT], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=50)
    assert proc.returncode == 0, proc.stderr[-2000:]
    captured = np.load(tmp_path / "captured.npy")
    assert np.array_equal(captured, sent)
    played = np.fromfile(tmp_path / "out.raw", dtype="<i2")
    assert np.array_equal(played, (np.arange(1600) % 256 - 128).astype(np.int16))


def test_a_broken_wav_is_a_clear_device_error(tmp_path: Path) -> None:
    from roamline.firmware.audio.errors import AudioDeviceError

    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    dev = make_device(AudioConfig(backend="file", input_path=bad))
    with pytest.raises(AudioDeviceError, match=r"bad\.wav"):
        dev.open()
    assert not dev.is_open
    with pytest.raises(AudioDeviceError, match=r"missing\.wav"):
        make_device(AudioConfig(backend="file", input_path=tmp_path / "missing.wav")).open()
