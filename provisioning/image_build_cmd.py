"""`roamline provision image build --board NAME --out FILE.img [--base RPI-OS.img]`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

SUMMARY = "build a bootable SD-card image (Debian arm64, or a Raspberry Pi OS Lite base) for a board"
DEFAULT_CACHE = Path.home() / ".cache" / "roamline-image"


def board_choices() -> Any:
    """``--board``: a board profile name, or a Pi model that has exactly one profile (pi3, pi4, pi5, sim)."""
    from roamline.wire import validate

    def names() -> list[str]:
        from roamline.provisioning.image_build import board_names

        return sorted(board_names())

    return validate.OneOf("board", names)


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    parser.add_argument("--board", required=True, type=board_choices(),
                        help="board profile (pi3-ag1171, pi4-ag1171, pi5-ag1171, sim) or its Pi model "
                             "(pi3, pi4, pi5, sim)")
    parser.add_argument("--out", required=True, type=validate.NewFile(overwrite=True), metavar="FILE.img")
    parser.add_argument("--base", type=validate.ExistingFile(), metavar="RPI-OS.img",
                        help="customise this Raspberry Pi OS Lite image instead of building from Debian")
    parser.add_argument("--wheel", type=validate.ExistingFile(), metavar="FILE.whl",
                        help="the Roamline wheel to install (default: built from this checkout)")
    parser.add_argument("--site", metavar="DIR",
                        type=validate.ExistingDir("roamline", "not a pip --target folder holding roamline"),
                        help="a prepared `pip install --target` folder to use as /opt/roamline/site")
    parser.add_argument("--rootfs-tar", type=validate.ExistingFile(), metavar="FILE.tar",
                        help="a prepared arm64 root filesystem tarball instead of running mmdebstrap")
    parser.add_argument("--cache", type=validate.NewDir(), default=DEFAULT_CACHE, metavar="DIR",
                        help=f"rootfs tarballs and aarch64 wheels (default {DEFAULT_CACHE})")
    parser.add_argument("--boot-mib", type=validate.count(32, 2048), default=256, help="boot partition MiB")
    parser.add_argument("--data-mib", type=validate.count(16, 65536), default=256, help="data partition MiB")
    parser.add_argument("--keep-work", type=validate.NewDir(), metavar="DIR",
                        help="keep the root tree and partition files here (for the boot test)")
    parser.add_argument("--json", action="store_true", help="the result as one JSON line on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def run(args: argparse.Namespace) -> int:
    import json

    from roamline.provisioning.errors import UsageError
    from roamline.provisioning.image_build import Reporter, Request, build, resolve_board

    if args.base is not None and args.rootfs_tar is not None:
        raise UsageError("--base and --rootfs-tar are two different sources: give one")
    report = Reporter(write=(lambda s: None)) if args.quiet else Reporter()
    req = Request(board=resolve_board(args.board), out=args.out, cache=args.cache, base=args.base,
                  wheel=args.wheel, site=args.site, rootfs=args.rootfs_tar, boot_mib=args.boot_mib,
                  data_mib=args.data_mib, keep=args.keep_work)
    result = build(req, report)
    record = {"image": str(result.path), "board": req.board, "size_bytes": result.size,
              "sha256": result.sha256, "build_s": round(result.seconds, 1), "kernel": result.kernel,
              "initrd": result.initrd, "layout": result.layout.as_dict()}
    if args.json:
        print(json.dumps(record))
    else:
        print(f"{result.path}: {result.size >> 20} MiB, built in {result.seconds:.0f} s")
        print(f"sha256 {result.sha256}")
    return 0
