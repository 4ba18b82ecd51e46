"""`roamline box update health --state DIR [--timeout S]`: run the booted slot's health check; healthy makes
a trial slot the primary, unhealthy marks it bad (exit 1) so that the next boot rolls back.

A root slot on its one-shot trial (whole-root update, see ``box update boot``) is checked first, with
the command of its signed manifest (``roamline box health --config /etc/roamline/box.toml --source
service`` for the image's bundles): healthy commits it with the board's boot loader (the Pi's
``tryboot.txt`` becomes ``config.txt``), unhealthy marks it bad and the next boot is the committed slot's."""

from __future__ import annotations

import argparse

SUMMARY = "health-check the booted slot: keep a new slot, or mark it bad for rollback"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.firmware.update.apply_cmd import add_root_options
    from roamline.wire import validate

    parser.add_argument("--state", required=True, type=validate.AnyDir(), help="boot-state directory")
    parser.add_argument("--timeout", type=validate.seconds(3600.0), default=60.0,
                        help="seconds the health check may take (default 60)")
    add_root_options(parser)


def run(args: argparse.Namespace) -> int:
    import json

    from roamline.firmware.errors import PeerError
    from roamline.firmware.update.bootstate import FileBootState
    from roamline.firmware.update.install import check_health

    if args.image_json.exists():
        from roamline.firmware.update import rootslot
        from roamline.firmware.update.apply_cmd import root_loader
        from roamline.firmware.update.rootinstall import FileRootState, check_root_health

        store = FileRootState(args.state)
        if store.exists() and rootslot.on_trial(store.load()):
            _record, loader = root_loader(args)
            rstate, healthy, reason = check_root_health(store, loader, args.timeout)
            print(json.dumps({"root_slot": rstate.running, "healthy": healthy, "committed": rstate.committed,
                              "root_state": str(rstate.slots[rstate.running]), "bootloader": loader.name}))
            if not healthy:
                raise PeerError(f"root slot {rstate.running} is not healthy ({reason}): the next boot is "
                                f"root slot {rstate.committed}'s")
            return 0
    state, healthy, reason = check_health(FileBootState(args.state), args.timeout)
    print(json.dumps({"slot": state.running, "healthy": healthy, "primary": state.primary,
                      "slot_state": str(state.slots[state.running])}))
    if not healthy:
        raise PeerError(f"slot {state.running} is not healthy ({reason}): the next boot rolls back")
    return 0
