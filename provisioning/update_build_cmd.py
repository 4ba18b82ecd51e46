"""`roamline provision update build --payload DIR --version V --key operator.key --health CMD --out FILE`,
or a whole-root bundle: `--root-image ROOT.ext4 --kernel vmlinuz-… --initrd initrd.img-…` instead of
`--payload` (written to the box's inactive root partition and tried once through its boot loader)."""

from __future__ import annotations

import argparse

SUMMARY = "build a signed update bundle: an application tree, or a whole root (ext4 image, kernel, initrd)"
ROOT_HEALTH = "roamline box health --config /etc/roamline/box.toml --source service --timeout 120"


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

    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--payload", type=validate.AnyDir(),
                      help="the application tree to ship (becomes the slot's contents)")
    what.add_argument("--root-image", type=validate.ExistingFile(),
                      help="a whole root: the ext4 image for the box's inactive root partition "
                           "(with --kernel and --initrd)")
    parser.add_argument("--kernel", type=validate.ExistingFile(), help="its kernel (with --root-image)")
    parser.add_argument("--initrd", type=validate.ExistingFile(), help="its initrd (with --root-image)")
    parser.add_argument("--version", required=True, type=validate.Identifier(), help="its version")
    parser.add_argument("--key", required=True, type=validate.ExistingFile(),
                        help="operator private key (PEM)")
    parser.add_argument("--health", default=None,
                        type=validate.Parsed("health command", _health, "./health", max_len=256),
                        help="command run after the new slot's first boot; exit 0 = healthy (required for "
                             f"--payload; a root bundle defaults to {ROOT_HEALTH!r})")
    parser.add_argument("--out", required=True, type=validate.NewFile(), help="bundle file to write (.rlu)")


def run(args: argparse.Namespace) -> int:
    import json
    import shlex

    from roamline.provisioning.errors import UsageError
    from roamline.provisioning.update_bundle import build_bundle, build_root_bundle, load_operator_key

    key = load_operator_key(args.key)
    if args.root_image is not None:
        if args.kernel is None or args.initrd is None:
            raise UsageError("--root-image needs --kernel and --initrd")
        manifest = build_root_bundle(args.root_image, args.kernel, args.initrd, args.version,
                                     args.health or tuple(shlex.split(ROOT_HEALTH)), key, args.out)
    else:
        if args.health is None:
            raise UsageError("--payload needs --health")
        if args.kernel is not None or args.initrd is not None:
            raise UsageError("--kernel and --initrd go with --root-image")
        manifest = build_bundle(args.payload, args.version, args.health, key, args.out)
    print(json.dumps({"out": str(args.out), "kind": manifest.kind, "version": manifest.version,
                      "payload_sha256": manifest.payload_sha256, "payload_size": manifest.payload_size}))
    return 0
