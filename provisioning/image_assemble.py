"""Filesystems and the disk image, made without mounting anything: ``mkfs.ext4 -d`` for the root slots
and the data partition, ``mkfs.vfat`` + ``mcopy`` (mtools) for the boot partition, then each partition
file copied into the disk at its planned offset behind the MBR (zero chunks are skipped: the image stays
sparse on disk). This kernel has no FAT driver, and an image builder should not need one.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from roamline.provisioning import image_plan
from roamline.provisioning.errors import PeerError, UsageError

CHUNK = 1 << 20
Progress = Callable[[str, int, int], None]  # (what, done, total)


class AssemblyFailed(PeerError):
    """A filesystem tool failed, or a partition does not fit its slot."""


def _tool(argv: list[str], what: str) -> None:
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1", "LC_ALL": "C"}  # long names: the boot files need them
    try:
        done = subprocess.run(argv, capture_output=True, env=env, check=False)
    except FileNotFoundError:
        raise UsageError(f"{argv[0]} not found: run scripts/bootstrap.sh (e2fsprogs, dosfstools, mtools)") \
            from None
    if done.returncode != 0:
        reason = (done.stderr.decode(errors="replace").strip().splitlines() or ["(no message)"])[-1]
        raise AssemblyFailed(f"{what}: {argv[0]} failed: {reason}")


def _blank(path: Path, size: int) -> None:
    with path.open("wb") as f:
        f.truncate(size)


def make_ext4(out: Path, size: int, label: str, source: Path | None = None) -> Path:
    """An ext4 filesystem of ``size`` bytes in ``out``, filled from ``source`` (owners and modes kept)."""
    _blank(out, size)
    argv = ["mkfs.ext4", "-q", "-F", "-b", "4096", "-L", label, "-m", "0", "-E", "lazy_itable_init=0"]
    if source is not None:
        argv += ["-d", str(source)]
    _tool([*argv, str(out)], f"{label} filesystem")
    return out


def make_fat(out: Path, size: int, label: str, files: Mapping[str, Path | bytes]) -> Path:
    """A FAT filesystem of ``size`` bytes holding ``files`` ({path on FAT: source file or bytes}): FAT32
    from 256 MiB (image_plan.fat_type), FAT16 below."""
    _blank(out, size)
    bits = "32" if image_plan.fat_type(size) == image_plan.FAT32_LBA else "16"
    _tool(["mkfs.vfat", "-F", bits, "-n", label, str(out)], f"{label} filesystem")
    made: set[str] = set()
    tmp = out.with_name(out.name + ".member")
    try:
        for name in sorted(files):
            parts = name.split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in made:
                    _tool(["mmd", "-i", str(out), f"::/{d}"], f"{label}: folder {d}")
                    made.add(d)
            src = files[name]
            if isinstance(src, bytes):
                tmp.write_bytes(src)
                src = tmp
            _tool(["mcopy", "-o", "-i", str(out), str(src), f"::/{name}"], f"{label}: {name}")
    finally:
        tmp.unlink(missing_ok=True)
    return out


def assemble(layout: image_plan.ImageLayout, parts: Mapping[int, Path], out: Path,
             progress: Progress | None = None) -> str:
    """Write the disk: MBR, then each partition's file at its offset. Returns the image's SHA-256."""
    for p in layout.partitions:
        src = parts.get(p.number)
        if src is None:
            raise AssemblyFailed(f"no filesystem for partition {p.number}")
        have = src.stat().st_size
        if have != p.size:
            raise AssemblyFailed(f"partition {p.number}: filesystem is {have} bytes, the slot {p.size}")
    total = sum(p.size for p in layout.partitions)
    done = 0
    tmp = out.with_name(out.name + ".part")
    with tmp.open("wb") as dst:
        dst.truncate(layout.size)
        dst.write(layout.mbr())
        for p in layout.partitions:
            with parts[p.number].open("rb") as src_f:
                at = p.offset
                while chunk := src_f.read(CHUNK):
                    if chunk.count(0) != len(chunk):
                        dst.seek(at)
                        dst.write(chunk)
                    at += len(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress("assemble", done, total)
        dst.flush()
        os.fsync(dst.fileno())
    tmp.replace(out)
    return sha256_file(out, progress)


def sha256_file(path: Path, progress: Progress | None = None) -> str:
    h = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with path.open("rb") as f:
        while chunk := f.read(4 * CHUNK):
            h.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress("sha256", done, total)
    return h.hexdigest()
