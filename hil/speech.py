"""Speech samples for audio tests and benchmarks: espeak-ng text-to-speech, resampled to 8 kHz.

espeak-ng is a proxy for recorded speech (formant synthesis: voiced/unvoiced structure, pitch and
pauses like speech, though cleaner). Results are cached per (voice, text) in a directory.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np

from roamline.firmware.audio.resample import resample
from roamline.hil.errors import UsageError

FAR_TEXT = ("The quick brown fox jumps over the lazy dog. Please call me back at your earliest "
            "convenience, the number is five five five, one two three four.")
NEAR_TEXT = "Hello, this is the near end speaking while you talk. Can you hear me clearly over the line?"


def available() -> bool:
    return shutil.which("espeak-ng") is not None


def read_wav(path: Path, rate: int = 8000) -> np.ndarray:
    """A mono 16-bit WAV as int16 at ``rate`` (resampled if needed)."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise UsageError(f"{path}: only 16-bit WAV is supported")
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)
        if w.getnchannels() > 1:
            x = x.reshape(-1, w.getnchannels())[:, 0].copy()
        return resample(x, w.getframerate(), rate)


def speak(text: str, voice: str = "en-us", cache: Path | None = None, rate: int = 8000,
          words_per_minute: int = 150) -> np.ndarray:
    """``text`` spoken by espeak-ng ``voice`` as int16 samples at ``rate``."""
    if not available():
        raise UsageError("espeak-ng is not installed (apt-get install espeak-ng)")
    folder = cache or Path.home() / ".cache" / "roamline-speech"
    folder.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(f"{voice}|{words_per_minute}|{text}".encode()).hexdigest()[:16]
    path = folder / f"{key}.wav"
    if not path.exists():
        tmp = path.with_suffix(".tmp.wav")
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-w", str(tmp), text],
                       check=True, capture_output=True, timeout=60)
        tmp.replace(path)
    return read_wav(path, rate)
