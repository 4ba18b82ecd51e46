"""`roamline cloud voicemail play --data DIR MESSAGE --out FILE.wav [--save]`."""

from __future__ import annotations

import argparse
import json
from typing import Any

SUMMARY = "write a voicemail message to a WAV file (8 kHz 16-bit mono), optionally marking it saved"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.cloud.cmd.common import add_data_arg
    from roamline.wire import validate

    add_data_arg(parser)
    parser.add_argument("message", type=validate.Identifier(), help="message id (from `voicemail list`)")
    parser.add_argument("--out", required=True, type=validate.NewFile(overwrite=True), metavar="FILE",
                        help="the WAV file to write (replaced if it exists)")
    parser.add_argument("--save", action="store_true",
                        help="mark the message saved (no longer counted as waiting)")
    parser.add_argument("--json", action="store_true", help="print what was written as JSON")


def run(args: argparse.Namespace) -> int:
    import io
    import time
    import wave

    import numpy as np

    from roamline.cloud import voicemail
    from roamline.cloud.cmd.common import open_store, write_atomic
    from roamline.cloud.errors import UsageError

    store = open_store(args.data)
    try:
        audio = store.voicemail_audio(args.message)
        if audio is None:
            raise UsageError(f"no message {args.message!r}")
        if args.save:
            voicemail.set_state(store, args.message, "saved", time.time())
    finally:
        store.close()
    samples = _ulaw_decode(np.frombuffer(audio, dtype=np.uint8))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(samples.astype("<i2").tobytes())
    write_atomic(args.out, buf.getvalue())
    seconds = round(len(audio) / 8000, 3)
    if args.json:
        print(json.dumps({"message_id": args.message, "out": str(args.out), "seconds": seconds,
                          "saved": bool(args.save)}))
    else:
        print(f"{args.message}: {seconds:.1f} s written to {args.out}" + (" (saved)" if args.save else ""))
    return 0


def _ulaw_decode(codes: Any) -> Any:
    """G.711 µ-law → int16 (ITU-T G.711; the cloud has no codec of its own)."""
    import numpy as np

    c = ~np.asarray(codes, dtype=np.uint8)
    sign = c & 0x80
    exponent = (c >> 4) & 0x07
    mantissa = c & 0x0F
    magnitude = ((mantissa.astype(np.int32) << 3) + 0x84) << exponent
    value = magnitude - 0x84
    return np.where(sign != 0, -value, value).astype(np.int16)
