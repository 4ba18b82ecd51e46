"""`roamline provision update keygen --out DIR`: the operator's update-signing key pair."""

from __future__ import annotations

import argparse

SUMMARY = "make the operator's update-signing key (DIR/operator.key) and the public key boxes trust"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    parser.add_argument("--out", required=True, type=validate.AnyDir(), help="directory to write into")


def run(args: argparse.Namespace) -> int:
    import json

    from roamline.provisioning.update_bundle import write_operator_key

    private, public = write_operator_key(args.out)
    print(json.dumps({"key": str(private), "public": str(public)}))
    return 0
