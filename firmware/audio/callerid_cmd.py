"""`roamline box diag callerid FILE.wav [--modem bell202|v23] [--json]`: decode caller-ID FSK in a WAV."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

SUMMARY = "decode caller-ID / message-waiting FSK (Bell 202 or V.23) in a WAV file"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    parser.add_argument("file", type=validate.ExistingFile(), help="WAV file (PCM, any common rate)")
    parser.add_argument("--modem", choices=("bell202", "v23"), default="bell202")
    parser.add_argument("--json", action="store_true",
                        help='last line: {"messages": [...], "rejected": [...]}')


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def run(args: argparse.Namespace) -> int:
    from roamline.firmware.audio import fsk
    from roamline.firmware.audio.dtmf import to_8k
    from roamline.firmware.audio.dtmf_cmd import read_wav

    samples, rate = read_wav(args.file)
    modem = fsk.BELL202 if args.modem == "bell202" else fsk.V23
    events = fsk.receive(to_8k(samples, rate), modem)
    messages = [{"at_s": e.at / 8000, "kind": type(e.message).__name__, "raw": e.raw.hex(),
                 **_plain(e.message)} for e in events if isinstance(e, fsk.FskMessage)]
    rejected = [{"at_s": e.at / 8000, "reason": e.reason, "raw": e.raw.hex()}
                for e in events if isinstance(e, fsk.FskRejected)]
    if args.json:
        print(json.dumps({"messages": messages, "rejected": rejected}))
    else:
        for m in messages:
            print(m)
        for r in rejected:
            print(f"rejected: {r}")
    return 0
