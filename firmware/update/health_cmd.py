"""`roamline box update health --state DIR [--timeout S]`: run the booted slot's health check; healthy makes
a trial slot the primary, unhealthy marks it bad (exit 1) so that the next boot rolls back."""

from __future__ import annotations

import argparse

SUMMARY = "health-check the booted slot: keep a new slot, or mark it bad for rollback"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    parser.add_argument("--state", required=True, type=validate.AnyDir(), help="boot-state directory")
    parser.add_argument("--timeout", type=validate.seconds(3600.0), default=60.0,
                        help="seconds the health check may take (default 60)")


def run(args: argparse.Namespace) -> int:
    import json

    from roamline.firmware.errors import PeerError
    from roamline.firmware.update.bootstate import FileBootState
    from roamline.firmware.update.install import check_health

    state, healthy, reason = check_health(FileBootState(args.state), args.timeout)
    print(json.dumps({"slot": state.running, "healthy": healthy, "primary": state.primary,
                      "slot_state": str(state.slots[state.running])}))
    if not healthy:
        raise PeerError(f"slot {state.running} is not healthy ({reason}): the next boot rolls back")
    return 0
