"""`roamline box run --config FILE`: the whole box (cards, link, line, handset, calls, the lifeline)."""

from __future__ import annotations

import argparse

SUMMARY = "run the whole box: card readers, link, phone line, handset, calls and the emergency lifeline"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    parser.add_argument("--config", required=True, type=validate.ExistingFile(),
                        help="box configuration (TOML), e.g. box.toml")


def run(args: argparse.Namespace) -> int:
    import asyncio

    from roamline.firmware.runtime import run_box

    asyncio.run(run_box(args.config))
    return 0
