"""Fixtures for flashing: small Pi-like disk images, enrollment bundles, loop devices."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from roamline.provisioning.enroll import RegistryAddress, write_box_bundle
from roamline.wire import identity
from roamline.wire.messages import Enrolled

BOOT_START = 2048  # sectors: the boot partition at 1 MiB, as on Pi images
BOOT_SECTORS = 32768  # 16 MiB FAT


def need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.fail(f"missing tools {missing}: run scripts/bootstrap.sh")


def make_image(path: Path, mib: int = 24, seed: int = 1) -> Path:
    """An MBR disk: FAT boot partition at 1 MiB, a Linux partition after it filled with random bytes."""
    need("sfdisk", "mkfs.vfat", "mcopy")
    with path.open("wb") as f:
        f.truncate(mib << 20)
    table = f"label: dos\nstart={BOOT_START}, size={BOOT_SECTORS}, type=c, bootable\n" \
            f"start={BOOT_START + BOOT_SECTORS}, type=83\n"
    subprocess.run(["sfdisk", "-q", str(path)], input=table.encode(), check=True)
    subprocess.run(["mkfs.vfat", "--offset", str(BOOT_START), "-n", "BOOT", str(path),
                    str(BOOT_SECTORS // 2)], check=True, capture_output=True)
    rng = __import__("random").Random(seed)
    with path.open("r+b") as f:
        f.seek((BOOT_START + BOOT_SECTORS) * 512)
        f.write(rng.randbytes((mib << 20) - (BOOT_START + BOOT_SECTORS) * 512))
    return path


def make_bundle(out: Path, ca: identity.CertificateAuthority | None = None, name: str = "box") -> Path:
    """What `provision box enroll` writes, certified by ``ca`` without a registry."""
    now = time.time()
    ca = ca or identity.CertificateAuthority.create(now=now)
    key = identity.generate_key()
    box_id = identity.box_id_for_key(key.public_key())
    cert = ca.issue(role=identity.Role.BOX, subject_id=box_id, public_key=key.public_key(), now=now)
    enrolled = Enrolled(cert_pem=identity.certificate_pem(cert).decode(), ca_cert_pem=ca.cert_pem.decode(),
                        id=box_id)
    write_box_bundle(out, key=key, enrolled=enrolled, ca_pem=ca.cert_pem,
                     address=RegistryAddress("127.0.0.1", 4433), box_name=name, board="pi4-ag1171")
    return out


@pytest.fixture
def loop_device(tmp_path: Path) -> Iterator[Callable[[int], str]]:
    """``make(mib)`` → a fresh loop device over a sparse file of that size; all detached afterwards."""
    if os.geteuid() != 0 or shutil.which("losetup") is None or not Path("/dev/loop-control").exists():
        pytest.skip("loop devices need root and losetup")
    made: list[str] = []

    def make(mib: int) -> str:
        backing = tmp_path / f"loop{len(made)}.bin"
        with backing.open("wb") as f:
            f.truncate(mib << 20)
        dev = subprocess.run(["losetup", "--find", "--show", str(backing)], check=True, capture_output=True,
                             text=True).stdout.strip()
        made.append(dev)
        return dev

    yield make
    for dev in made:
        subprocess.run(["losetup", "-d", dev], check=False, capture_output=True)
