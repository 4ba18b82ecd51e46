"""`provision image build --base`: customising a Raspberry Pi OS Lite image, shown on a small synthetic
image with its layout (FAT boot partition at 4 MiB, ext4 root after it, RPi OS's cmdline.txt with its
first-boot resize hook), since no real RPi OS image is available offline."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from roamline.provisioning.mbr import parse_mbr

from .conftest import debugfs, mdir, mtype, need, partition_file, sfdisk_json, tiny_site, write
from .test_image_build import build

RPI_CMDLINE = ("console=serial0,115200 console=tty1 root=PARTUUID=3e247b30-02 rootfstype=ext4 "
               "fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot "
               "cfg80211.ieee80211_regdom=GB\n")
STATUS = "".join(f"Package: {p}\nStatus: install ok installed\nVersion: 1\n\n"
                 for p in ("python3", "python3-pyscard", "pcscd", "gpsd", "raspberrypi-kernel"))


def synthetic_rpi_os(tmp: Path, *, status: str = STATUS) -> Path:
    root = tmp / "rpi-root"
    write(root, "etc/os-release", 'PRETTY_NAME="Raspbian GNU/Linux 12 (bookworm)"\n')
    write(root, "var/lib/dpkg/status", status)
    write(root, "lib/systemd/system/pcscd.socket", "[Unit]\n")
    write(root, "lib/systemd/system/gpsd.socket", "[Unit]\n")
    write(root, "home/pi/.profile", "# the pi user's\n")
    os.chown(root / "home/pi/.profile", 1000, 1000)
    os.chown(root / "home/pi", 1000, 1000)
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/python3").symlink_to("python3.11")
    ext4 = tmp / "rpi-root.ext4"
    with ext4.open("wb") as f:
        f.truncate(32 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "rootfs", "-d", str(root), str(ext4)], check=True)
    fat = tmp / "rpi-boot.vfat"
    with fat.open("wb") as f:
        f.truncate(32 << 20)
    subprocess.run(["mkfs.vfat", "-n", "bootfs", str(fat)], check=True, capture_output=True)
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    boot = tmp / "rpi-boot"
    write(boot, "cmdline.txt", RPI_CMDLINE)
    write(boot, "config.txt", "[all]\narm_64bit=1\ndtoverlay=vc4-kms-v3d\n")
    write(boot, "kernel8.img", b"RPI-KERNEL" * 50)
    write(boot, "bcm2711-rpi-4-b.dtb", "dtb")
    write(boot, "overlays/vc4-kms-v3d.dtbo", "overlay")
    subprocess.run(["mcopy", "-s", "-i", str(fat), *map(str, boot.iterdir()), "::/"], check=True, env=env)
    image = tmp / "rpi-os-lite.img"
    table = ("label: dos\nlabel-id: 0x3e247b30\nstart=8192, size=65536, type=c\n"
             "start=73728, size=65536, type=83\n")
    with image.open("wb") as f:
        f.truncate((73728 + 65536) * 512)
    subprocess.run(["sfdisk", "-q", str(image)], input=table.encode(), check=True)
    with image.open("r+b") as f:
        f.seek(8192 * 512)
        f.write(fat.read_bytes())
        f.seek(73728 * 512)
        f.write(ext4.read_bytes())
    return image


@pytest.fixture(scope="module")
def from_base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    need("mkfs.ext4", "debugfs", "mkfs.vfat", "mcopy", "sfdisk")
    tmp = tmp_path_factory.mktemp("base")
    base = synthetic_rpi_os(tmp)
    done = build(tmp, "--base", str(base), "--site", str(tiny_site(tmp)))
    assert done.returncode == 0, done.stderr
    return tmp / "box.img", json.loads(done.stdout.strip().splitlines()[-1])


def test_base_layout_is_the_roamline_layout(from_base: tuple[Path, dict]) -> None:
    image, result = from_base
    parts = sfdisk_json(image)["partitions"]
    assert [p["type"] for p in parts] == ["e", "83", "83", "83"]
    assert result["layout"]["slots"]["A"]["number"] == 2


def test_base_boot_files_kept_and_cmdline_rewritten(from_base: tuple[Path, dict]) -> None:
    image, result = from_base
    boot = parse_mbr(image.read_bytes()[:512])[0]
    assert {"kernel8.img", "config.txt", "cmdline.txt", "bcm2711-rpi-4-b.dtb", "overlays"} <= set(
        mdir(image, boot.offset))
    assert mdir(image, boot.offset, "overlays") == ["vc4-kms-v3d.dtbo"]
    assert mtype(image, boot.offset, "kernel8.img") == b"RPI-KERNEL" * 50
    cmd = mtype(image, boot.offset, "cmdline.txt").decode().split()
    assert f"root=PARTUUID={result['layout']['disk_id']}-02" in cmd and "ro" in cmd
    assert not [w for w in cmd if "firstboot" in w or w == "root=PARTUUID=3e247b30-02"]
    assert "cfg80211.ieee80211_regdom=GB" in cmd and "console=serial0,115200" in cmd
    assert result["kernel"] == "kernel8.img"


def test_base_root_customised_with_owners_kept(from_base: tuple[Path, dict], tmp_path: Path) -> None:
    image, _ = from_base
    p = parse_mbr(image.read_bytes()[:512])[1]
    fs = partition_file(image, p.offset, p.size, tmp_path / "root.ext4")
    assert "User:  1000   Group:  1000" in debugfs(fs, "stat /home/pi/.profile")
    assert 'Fast link dest: "python3.11"' in debugfs(fs, "stat /usr/bin/python3")
    assert "Raspbian" in debugfs(fs, "cat /etc/os-release")
    assert "/dev/root        /              ext4   ro" in debugfs(fs, "cat /etc/fstab")
    assert "roamline box run" in debugfs(fs, "cat /etc/systemd/system/roamline-box.service")
    record = json.loads(debugfs(fs, "cat /etc/roamline/image.json"))
    assert record["source"] == "base:rpi-os-lite.img"


def test_base_that_is_not_a_pi_image_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.img"
    junk.write_bytes(b"\0" * 4096)
    done = build(tmp_path, "--base", str(junk), "--site", str(tiny_site(tmp_path)))
    assert done.returncode == 1
    assert "no MBR signature" in done.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "box.img").exists()
