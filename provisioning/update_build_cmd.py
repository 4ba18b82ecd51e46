"""`roamline provision update build --payload DIR --version V --key operator.key --health CMD --out FILE`."""

from __future__ import annotations

import argparse

SUMMARY = "build a signed application update bundle from a directory (operator key, health command)"


def _health(text: str) -> tuple[str, ...]:
    import re
    import shlex

    argv = tuple(shlex.split(text))
    if not argv:
        raise ValueError("the health command must not be empty")
    if re.fullmatch(r"(\./|/)?[A-Za-z0-9_][A-Za-z0-9_./-]*", argv[0]) is None:
        raise ValueError(f"the health command must start with a program (e.g. ./health), not {argv[0]!r}")
    return argv


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    parser.add_argument("--payload", required=True, type=validate.AnyDir(),
                        help="the application tree to ship (becomes the slot's contents)")
    parser.add_argument("--version", required=True, type=validate.Identifier(), help="its version")
    parser.add_argument("--key", required=True, type=validate.ExistingFile(),
                        help="operator private key (PEM)")
    parser.add_argument("--health", required=True,
                        type=validate.Parsed("health command", _health, "./health", max_len=256),
                        help="command run in the new slot after its first boot; exit 0 = healthy")
    parser.add_argument("--out", required=True, type=validate.NewFile(), help="bundle file to write (.rlu)")


def run(args: argparse.Namespace) -> int:
    import json

    from roamline.provisioning.update_bundle import build_bundle, load_operator_key

    manifest = build_bundle(args.payload, args.version, args.health, load_operator_key(args.key), args.out)
    print(json.dumps({"out": str(args.out), "version": manifest.version,
                      "payload_sha256": manifest.payload_sha256, "payload_size": manifest.payload_size}))
    return 0
