"""`roamline box update boot --state DIR`: the boot loader's choice (file-backed boot state): a pending slot
gets its one trial boot, a trial that was never marked healthy is rolled back, else the primary boots.

Root slots (whole-root updates) are chosen by the board's boot loader, not here: when the image records
itself (``--image-json``), what the boot loader did is observed and recorded (``root_slot``, ``root_mode``
trial or committed, ``root_state``; a trial that never reported is marked bad). A failure there is
reported as ``root_error`` and does not change the application slot's answer: the firmware starts
whatever happens (an update never blocks the lifeline)."""

from __future__ import annotations

import argparse

SUMMARY = "choose the slot to boot (trial of a new slot, or rollback) and print it"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.firmware.update.apply_cmd import add_root_options
    from roamline.wire import validate

    parser.add_argument("--state", required=True, type=validate.AnyDir(), help="boot-state directory")
    add_root_options(parser)


def root_report(args: argparse.Namespace) -> dict[str, object]:
    from roamline.errors import RoamlineError
    from roamline.firmware.update.apply_cmd import root_loader
    from roamline.firmware.update.rootinstall import FileRootState, observe

    if not args.image_json.exists():
        return {}
    try:
        _record, loader = root_loader(args)
        store = FileRootState(args.state)
        state = observe(store, loader)
        booted = loader.booted()
    except (RoamlineError, OSError) as exc:  # the board's errors too (an unknown board profile)
        return {"root_error": str(exc)}
    return {"root_slot": state.running, "root_mode": "trial" if booted.trial else "committed",
            "root_state": str(state.slots[state.running]), "root_version": state.versions.get(state.running),
            "root_committed": state.committed, "bootloader": loader.name}


def run(args: argparse.Namespace) -> int:
    import json

    from roamline.firmware.update.bootstate import FileBootState, boot

    root = root_report(args)
    store = FileBootState(args.state)
    state = boot(store.load())
    store.save(state)
    print(json.dumps({"booted": state.booted, "slot_state": str(state.slots[state.running]),
                      "version": state.versions.get(state.running),
                      "dir": str(store.slot_dir(state.running)), **root}))
    return 0
