"""`roamline cloud card revoke ID --data DIR`."""

from __future__ import annotations

import argparse

SUMMARY = "revoke a card: refused from its next message on, its registration ends"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.cloud.cmd import revoke

    revoke.configure(parser, "card")


def run(args: argparse.Namespace) -> int:
    from roamline.cloud.cmd import revoke

    return revoke.run(args, "card")
