"""`roamline bench flash --json`: our flashing rate against plain ``dd conv=fsync`` to the same kind of
target in the same run, and the read-back verification rate.

The image is ``--mb`` MB of random bytes (nothing compresses or is skipped as zeros). Each round writes
it once with ``dd if=IMAGE of=TARGET bs=4M conv=fsync`` and once with the flasher (4 MiB writes, same
fsync at the end, plus its periodic fdatasync), to fresh targets of the same kind (loop devices over
fresh sparse files on the same filesystem when we are root, else image files), in alternating order;
the files live in RAM (/dev/shm) unless ``--workdir`` says otherwise, so the figures are the tools'
own costs, not the shared disk's moods;
rates are medians over ``--rounds``. ``flash_mb_per_s`` is writing alone (through the final fsync);
``verify_mb_per_s`` is the read-back past the page cache (O_DIRECT) with both SHA-256 digests
(DESIGN §8a). The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse

SUMMARY = "flashing MB/s against dd conv=fsync on the same kind of target, and verification MB/s"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    parser.add_argument("--json", action="store_true", help="print the result as one JSON line (default)")
    parser.add_argument("--mb", type=validate.count(1, 65536), default=256, help="image size in MB (MiB)")
    parser.add_argument("--rounds", type=validate.count(1, 100), default=3)
    parser.add_argument("--target", choices=("auto", "loop", "file"), default="auto")
    parser.add_argument("--workdir", type=validate.NewDir(),
                        help="where the image and the targets' backing files live (made if missing; default: "
                             "/dev/shm when it exists, so the shared disk's noise stays out)")


def run(args: argparse.Namespace) -> int:
    import json
    import os
    import shutil
    import statistics
    import subprocess
    import sys
    import tempfile
    import time
    from pathlib import Path

    from roamline.hil.errors import UsageError
    from roamline.provisioning.flasher import FileDevice, Job, flash_one, read_image

    if args.mb < 1 or args.rounds < 1:
        raise UsageError("--mb and --rounds must be at least 1")
    kind = args.target
    can_loop = os.geteuid() == 0 and bool(shutil.which("losetup")) and Path("/dev/loop-control").exists()
    if kind == "auto":
        kind = "loop" if can_loop else "file"
    if kind == "loop" and not can_loop:
        raise UsageError("loop targets need root and losetup")
    size = args.mb << 20
    loops: list[str] = []

    def target(root: Path, name: str) -> str:
        path = root / name
        path.unlink(missing_ok=True)
        if kind == "file":
            return str(path)
        with path.open("wb") as f:
            f.truncate(size)
        dev = subprocess.run(["losetup", "--find", "--show", str(path)], capture_output=True, text=True,
                             check=True).stdout.strip()
        loops.append(dev)
        return dev

    def release() -> None:
        while loops:
            subprocess.run(["losetup", "-d", loops.pop()], check=False, capture_output=True)

    flash, dd, verify = [], [], []
    workdir = str(args.workdir) if args.workdir else ("/dev/shm" if Path("/dev/shm").is_dir() else None)
    if workdir is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="roamline-bench-flash-", dir=workdir) as tmp:
        root = Path(tmp)
        image = root / "image.img"
        with image.open("wb") as f:
            for _ in range(args.mb):
                f.write(os.urandom(1 << 20))
        info = read_image(image, need_boot=False)
        try:
            for n in range(args.rounds):
                for which in (("dd", "ours") if n % 2 == 0 else ("ours", "dd")):
                    dev = target(root, f"{which}.bin")
                    if which == "dd":
                        t0 = time.perf_counter()
                        argv = ["dd", f"if={image}", f"of={dev}", "bs=4M", "conv=fsync", "status=none"]
                        subprocess.run(argv, check=True)
                        dd.append(args.mb / (time.perf_counter() - t0))
                    else:
                        report = flash_one(info, Job(FileDevice(dev)))
                        if not report.ok:
                            raise SystemExit(f"flash failed: {report.error}")
                        flash.append(args.mb / report.write_s)
                        verify.append(args.mb / report.verify_s)
                    release()
                print(f"bench flash: round {n + 1}: ours {flash[-1]:.0f} MB/s, dd {dd[-1]:.0f} MB/s, "
                      f"verify {verify[-1]:.0f} MB/s", file=sys.stderr)
        finally:
            release()
    result = {
        "flash_mb_per_s": round(statistics.median(flash), 1),
        "dd_mb_per_s": round(statistics.median(dd), 1),
        "verify_mb_per_s": round(statistics.median(verify), 1),
        "flash_to_dd": round(statistics.median(flash) / statistics.median(dd), 3),
        "target": kind, "workdir": workdir or tempfile.gettempdir(), "image_mb": args.mb,
        "rounds": args.rounds,
        "samples": {"flash": [round(x, 1) for x in flash], "dd": [round(x, 1) for x in dd],
                    "verify": [round(x, 1) for x in verify]},
    }
    print(json.dumps(result))
    return 0
