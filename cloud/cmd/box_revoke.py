"""`roamline cloud box revoke ID --data DIR`."""

from __future__ import annotations

import argparse

SUMMARY = "revoke a box: its link is refused from its next message on, its registrations end"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.cloud.cmd import revoke

    revoke.configure(parser, "box")


def run(args: argparse.Namespace) -> int:
    from roamline.cloud.cmd import revoke

    return revoke.run(args, "box")
