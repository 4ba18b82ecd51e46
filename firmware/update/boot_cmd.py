"""`roamline box update boot --state DIR`: the boot loader's choice (file-backed boot state): a pending slot
gets its one trial boot, a trial that was never marked healthy is rolled back, else the primary boots."""

from __future__ import annotations

import argparse

SUMMARY = "choose the slot to boot (trial of a new slot, or rollback) and print it"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    parser.add_argument("--state", required=True, type=validate.AnyDir(), help="boot-state directory")


def run(args: argparse.Namespace) -> int:
    import json

    from roamline.firmware.update.bootstate import FileBootState, boot

    store = FileBootState(args.state)
    state = boot(store.load())
    store.save(state)
    print(json.dumps({"booted": state.booted, "slot_state": str(state.slots[state.running]),
                      "version": state.versions.get(state.running),
                      "dir": str(store.slot_dir(state.running))}))
    return 0
