"""`roamline box run --config FILE`: the box firmware (card roaming over the link to the registry)."""

from __future__ import annotations

import argparse

SUMMARY = "run the box: watch the card readers, keep the link to the registry, register cards"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    parser.add_argument("--config", required=True, type=validate.ExistingFile(),
                        help="box configuration (TOML), e.g. box.toml")


def run(args: argparse.Namespace) -> int:
    import asyncio

    from roamline.firmware.runtime import run_box

    asyncio.run(run_box(args.config))
    return 0
