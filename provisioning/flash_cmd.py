"""`roamline provision flash IMAGE DEVICE [DEVICE…] [--identity DIR …]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SUMMARY = "write an image to SD cards, verify it read back past the cache, inject each box's identity"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    target = validate.NewFile(overwrite=True)  # a device, or an image file to (over)write
    parser.add_argument("image", type=validate.ExistingFile(), help="raw disk image (.img)")
    parser.add_argument("devices", nargs="+", metavar="DEVICE", type=target,
                        help="whole block devices (/dev/sdX, /dev/mmcblkN) or image files to write")
    parser.add_argument("--identity", action="append", default=[], metavar="DIR",
                        type=validate.ExistingDir("box.toml", "not an enrollment bundle: "
                                                  "`provision box enroll --out DIR` writes one"),
                        help="enrollment bundle (from `provision box enroll --out DIR`) for each DEVICE, "
                             "in order: none at all, or one per device")
    parser.add_argument("--allow-loop", action="store_true",
                        help="allow loop devices (they report non-removable; for tests and staging)")
    parser.add_argument("--force", action="store_true",
                        help="write devices that do not look removable (each must also be --confirm'ed)")
    parser.add_argument("--confirm", action="append", default=[], metavar="DEVICE", type=target,
                        help="with --force: the path of a non-removable device, typed again")
    parser.add_argument("--chunk-mb", type=validate.count(1, 64), default=4,
                        help="write size in MiB (default 4, like dd bs=4M)")
    parser.add_argument("--json", action="store_true", help="one JSON report per device on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


class _Bar:
    """Progress on stderr: one redrawn line for all devices on a terminal, a line per 25 % otherwise."""

    def __init__(self, targets: list[str], size: int) -> None:
        self.tty = sys.stderr.isatty()
        self.size = size
        self.state = {t: "queued" for t in targets}
        self.last: dict[str, tuple[str, int]] = {}

    def __call__(self, p: object) -> None:
        from roamline.provisioning.flasher import Phase, Progress

        assert isinstance(p, Progress)
        pct = int(100 * p.done / p.total) if p.total else 100
        text = {Phase.WRITE: f"write {pct}%", Phase.VERIFY: f"verify {pct}%"}.get(p.phase, p.phase.value)
        self.state[p.target] = text
        if self.tty:
            line = "  ".join(f"{Path(t).name}: {s}" for t, s in self.state.items())
            print(f"\r{line[:200]:<80}", end="\n" if p.phase in (Phase.DONE, Phase.FAILED) and all(
                s in ("done", "failed") for s in self.state.values()) else "", file=sys.stderr, flush=True)
            return
        bucket = pct // 25 if p.phase in (Phase.WRITE, Phase.VERIFY) else -1
        if self.last.get(p.target) != (p.phase.value, bucket):
            self.last[p.target] = (p.phase.value, bucket)
            print(f"flash: {p.target}: {text}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    import json

    from roamline.provisioning.blockdev import Overrides, inspect_target, refusals
    from roamline.provisioning.bootinject import load_bundle
    from roamline.provisioning.errors import UsageError
    from roamline.provisioning.flasher import FileDevice, Job, flash_many, read_image

    devices: list[str] = [str(d) for d in args.devices]
    if len(set(devices)) != len(devices):
        raise UsageError("a device is named twice")
    if args.identity and len(args.identity) != len(devices):
        raise UsageError(f"{len(args.identity)} --identity bundles for {len(devices)} devices "
                         "(one per device)")
    if len({p.resolve() for p in args.identity}) != len(args.identity):
        raise UsageError("the same identity bundle twice (two boxes cannot share an identity)")
    bundles = [load_bundle(p) for p in args.identity]
    image = read_image(args.image, need_boot=bool(bundles))
    confirm = tuple(str(c) for c in args.confirm)
    overrides = Overrides(allow_loop=args.allow_loop, force=args.force, confirm=confirm)
    refused = 0
    for dev in devices:
        for why in refusals(inspect_target(dev, str(args.image)), image.size, overrides):
            print(f"roamline: refusing {dev}: {why}", file=sys.stderr)
            refused += 1
    if refused:
        return 1
    jobs = [Job(FileDevice(d), bundles[i] if bundles else None) for i, d in enumerate(devices)]
    sink = None if args.quiet else _Bar(devices, image.size)
    reports = flash_many(image, jobs, chunk=args.chunk_mb << 20, sink=sink)
    for r in reports:
        if args.json:
            print(json.dumps(r.as_dict()))
        elif r.ok:
            print(f"{r.target}: written and verified ({r.bytes_written} bytes, sha256 {r.readback_sha256}, "
                  f"{r.verify_method})" + (f", identity of box {r.box_id}" if r.box_id else ""))
        if not r.ok:
            print(f"roamline: {r.target}: FAILED at {r.error}"
                  + (" (first MiB zeroed)" if r.wiped else ""), file=sys.stderr)
    return 0 if all(r.ok for r in reports) else 1
