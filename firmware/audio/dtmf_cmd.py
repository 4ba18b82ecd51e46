"""`roamline box diag dtmf FILE.wav [--json]`: the DTMF keys in a WAV file (any common rate, mono/stereo)."""

from __future__ import annotations

import argparse
import json
import wave
from pathlib import Path
from typing import Any

SUMMARY = "detect DTMF keys in a WAV file (8/16/44.1/48 kHz, mono or stereo, 8/16/24/32-bit PCM)"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    parser.add_argument("file", type=validate.ExistingFile(), help="WAV file (PCM)")
    parser.add_argument("--json", action="store_true", help='last line: {"digits": "..."}')
    parser.add_argument("--verbose", action="store_true", help="one line per key with its start and end")


def read_wav(path: Path) -> tuple[Any, int]:
    """Mono float samples (full scale 1.0) and the rate. Raises PeerError on a file we cannot read."""
    import numpy as np

    from roamline.firmware.audio.errors import MediaError

    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            raw = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise MediaError(f"{path}: not a PCM WAV file ({exc})") from exc
    if width == 1:  # 8-bit WAV is unsigned
        x = (np.frombuffer(raw, np.uint8).astype(np.float64) - 128.0) / 128.0
    elif width == 2:
        x = np.frombuffer(raw, "<i2").astype(np.float64) / 32768.0
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = np.where(v >= 1 << 23, v - (1 << 24), v).astype(np.float64) / float(1 << 23)
    elif width == 4:
        x = np.frombuffer(raw, "<i4").astype(np.float64) / float(1 << 31)
    else:
        raise MediaError(f"{path}: unsupported sample width {width} bytes")
    if channels < 1 or len(x) % channels:
        raise MediaError(f"{path}: truncated or malformed frames")
    return x.reshape(-1, channels).mean(axis=1), rate


def run(args: argparse.Namespace) -> int:
    from roamline.firmware.audio import dtmf

    samples, rate = read_wav(args.file)
    events = dtmf.detect(samples, rate)
    keys = "".join(e.digit for e in events)
    if args.verbose:
        for e in events:
            print(f"{e.digit}  {e.start / dtmf.RATE:8.3f} s  {e.end / dtmf.RATE:8.3f} s")
    print(json.dumps({"digits": keys}) if args.json else keys)
    return 0
