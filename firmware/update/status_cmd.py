"""`roamline box update status --state DIR`: the boot state as JSON."""

from __future__ import annotations

import argparse

SUMMARY = "show the A/B boot state (primary, booted slot, each slot's state and version)"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    parser.add_argument("--state", required=True, type=validate.AnyDir(), help="boot-state directory")


def run(args: argparse.Namespace) -> int:
    import json

    from roamline.firmware.update.bootstate import FileBootState

    store = FileBootState(args.state)
    print(json.dumps({**store.load().to_json(), "dir": str(store.dir)}, sort_keys=True))
    return 0
