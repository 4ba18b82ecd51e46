"""`roamline demo`: the card-roaming story on the demo rig, each step printed and checked.

The cloud on SQLite, two boxes on simulated peripherals (each its own private pcscd with a vpcd reader,
the real firmware process, real QUIC on loopback), and a virtual PIV card that moves between them.
"""

from __future__ import annotations

import argparse

SUMMARY = "walk through the real flows on a simulated rig (card into box A, move to box B, remove)"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    def rigs() -> list[str]:
        from roamline.hil.rig import RIGS

        return [p.stem for p in RIGS.glob("*.toml")]

    parser.add_argument("--rig", default="demo", type=validate.FileOrName("rig", rigs),
                        help="rig file or name under hil/rigs (default: demo)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory for inspection")
    parser.add_argument("--verbose", action="store_true", help="show the processes' logs as well")


def run(args: argparse.Namespace) -> int:
    from roamline.hil.story import Story

    return Story(args.rig, keep=args.keep, verbose=args.verbose).run()
