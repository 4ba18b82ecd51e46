"""Fixtures for image builds: a tiny Debian-like root tree (a few files where Debian puts the kernel,
initrd, Pi firmware, device trees and the daemons' units), a tiny pip --target folder, and helpers that
read an image back without mounting (sfdisk, mtools, debugfs)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

KVER = "6.1.0-99-arm64"
MTOOLS_ENV = {**os.environ, "MTOOLS_SKIP_CHECK": "1", "MTOOLS_NO_VFAT": "1"}


def need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.fail(f"missing tools {missing}: run scripts/bootstrap.sh")


def write(root: Path, rel: str, data: bytes | str, mode: int = 0o644) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    p.chmod(mode)


def tiny_debian_tree(root: Path) -> Path:
    write(root, f"boot/vmlinuz-{KVER}", b"KERNEL" * 100)
    write(root, f"boot/initrd.img-{KVER}", b"INITRD" * 100)
    for name in ("start4.elf", "fixup4.dat", "bootcode.bin", "start.elf", "fixup.dat"):
        write(root, f"usr/lib/raspi-firmware/{name}", f"firmware {name}")
    for name in ("bcm2711-rpi-4-b.dtb", "bcm2711-rpi-400.dtb", "bcm2711-rpi-cm4-io.dtb",
                 "bcm2837-rpi-3-b.dtb"):
        write(root, f"usr/lib/linux-image-{KVER}/broadcom/{name}", f"dtb {name}")
    for unit in ("pcscd.socket", "gpsd.socket", "systemd-networkd.service",
                 "systemd-networkd-wait-online.service"):
        write(root, f"lib/systemd/system/{unit}", f"[Unit]\nDescription={unit}\n")
    write(root, "usr/bin/python3", "#!/bin/sh\n", 0o755)
    write(root, "etc/os-release", "ID=debian\n")
    return root


def tiny_tar(tmp: Path) -> Path:
    root = tiny_debian_tree(tmp / "tree")
    tar = tmp / "rootfs.tar"
    with tarfile.open(tar, "w") as t:
        for p in sorted(root.rglob("*")):
            t.add(p, arcname="./" + p.relative_to(root).as_posix(), recursive=False)
    return tar


def tiny_site(tmp: Path) -> Path:
    site = tmp / "site"
    write(site, "roamline/__init__.py", "")
    write(site, "roamline-0.1.0.dist-info/METADATA", "Name: roamline\nVersion: 0.1.0\n")
    return site


def sfdisk_json(image: Path) -> dict:
    import json

    out = subprocess.run(["sfdisk", "--json", str(image)], capture_output=True, check=True, text=True)
    return json.loads(out.stdout)["partitiontable"]


def partition_file(image: Path, offset: int, size: int, out: Path) -> Path:
    with image.open("rb") as s, out.open("wb") as d:
        s.seek(offset)
        d.write(s.read(size))
    return out


def debugfs(fs: Path, request: str) -> str:
    return subprocess.run(["debugfs", "-R", request, str(fs)], capture_output=True, check=True,
                          text=True).stdout


def mtype(image: Path, offset: int, path: str) -> bytes:
    return subprocess.run(["mtype", "-i", f"{image}@@{offset}", f"::/{path}"], capture_output=True,
                          check=True, env=MTOOLS_ENV).stdout


def mdir(image: Path, offset: int, path: str = "") -> list[str]:
    out = subprocess.run(["mdir", "-b", "-i", f"{image}@@{offset}", f"::/{path}"], capture_output=True,
                         check=True, env=MTOOLS_ENV, text=True).stdout
    return sorted(line.rstrip("/").rsplit("/", 1)[-1] for line in out.splitlines() if line.strip())
