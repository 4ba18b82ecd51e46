"""Put a box's identity on a flashed card's boot partition, without mounting it (mtools).

The bundle is what ``provision box enroll`` writes (box.key, box.pem, ca.pem, box.toml). It is checked
before any device is touched: the four files are there, box.toml loads, box.pem is a box certificate
from ca.pem for box.key. On the card the files go to ``/roamline/`` on the FAT boot partition, where the
image's first-boot step takes them. mtools reaches the partition as ``DEVICE@@OFFSET`` (this kernel has
no FAT driver, and a flashing tool should not mount what it writes anyway); after writing, the device's
cache is flushed and dropped and every file is read back and compared.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from roamline.provisioning.errors import PeerError, UsageError
from roamline.provisioning.mbr import Partition

BUNDLE_FILES = ("box.key", "box.pem", "ca.pem", "box.toml")
# optional: the operator's update-signing public key (`provision update keygen`); first boot puts it in
# /data/update/operator.pem, the key `box update apply` trusts
OPTIONAL_FILES = ("operator.pem",)
BOOT_DIR = "roamline"

Runner = Callable[[list[str]], "subprocess.CompletedProcess[bytes]"]


class InjectionFailed(PeerError):
    """mtools could not write the bundle to the boot partition, or it read back different."""


@dataclass(frozen=True, slots=True)
class Bundle:
    directory: Path
    box_id: str
    files: tuple[tuple[str, bytes], ...]


def load_bundle(directory: Path, now: float | None = None) -> Bundle:
    """Read and check an enrollment bundle (raises UsageError with the first thing wrong)."""
    from roamline.firmware.config import load_box_config
    from roamline.wire import identity
    from roamline.wire.errors import BadCertificate

    files: list[tuple[str, bytes]] = []
    for name in BUNDLE_FILES:
        try:
            files.append((name, (directory / name).read_bytes()))
        except OSError as exc:
            raise UsageError(f"{directory}: identity bundle lacks {name} ({exc.strerror})") from None
    data = dict(files)
    for name in OPTIONAL_FILES:
        if (directory / name).is_file():
            files.append((name, (directory / name).read_bytes()))
    try:
        load_box_config(directory / "box.toml")
        key = identity.load_private_key_pem(data["box.key"])
        ca = identity.load_certificate(data["ca.pem"])
        ident = identity.verify_certificate(data["box.pem"], ca, now=time.time() if now is None else now,
                                            role=identity.Role.BOX)
    except BadCertificate as exc:
        raise UsageError(f"{directory}: identity bundle: {exc}") from None
    except Exception as exc:  # config validation, key parsing: the bundle is unusable either way
        raise UsageError(f"{directory}: identity bundle: {exc}".splitlines()[0]) from None
    if identity.public_key_der(ident.public_key) != identity.public_key_der(key.public_key()):
        raise UsageError(f"{directory}: box.pem is not the certificate of box.key")
    return Bundle(directory, ident.id, tuple(files))


def _run(argv: list[str]) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1", "MTOOLS_NO_VFAT": "1"}
    return subprocess.run(argv, capture_output=True, env=env, check=False)


def _drop_cache(path: str) -> None:
    """Write back and forget the cached pages of ``path``, so the next read comes from the device."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def inject(target: str, boot: Partition, bundle: Bundle, run: Runner = _run) -> None:
    """Copy the bundle into ``/roamline/`` on the boot partition of ``target`` and read it back."""
    image = f"{target}@@{boot.offset}"

    def mtools(*argv: str) -> subprocess.CompletedProcess[bytes]:
        try:
            done = run(list(argv))
        except FileNotFoundError:
            raise UsageError(f"{argv[0]} not found: install mtools") from None
        if done.returncode != 0:
            reason = (done.stderr.decode(errors="replace").strip().splitlines() or ["(no message)"])[-1]
            raise InjectionFailed(f"{target}: {argv[0]} failed on the boot partition: {reason}")
        return done

    listing = run(["mdir", "-b", "-i", image, f"::/{BOOT_DIR}"])
    if listing.returncode != 0:
        mtools("mmd", "-i", image, f"::/{BOOT_DIR}")
    with tempfile.TemporaryDirectory(prefix="roamline-inject-") as tmp:
        for name, data in bundle.files:
            src = Path(tmp) / name
            src.write_bytes(data)
            mtools("mcopy", "-o", "-i", image, str(src), f"::/{BOOT_DIR}/{name}")
        _drop_cache(target)
        for name, data in bundle.files:
            back = mtools("mtype", "-i", image, f"::/{BOOT_DIR}/{name}").stdout
            if back != data:
                raise InjectionFailed(f"{target}: /{BOOT_DIR}/{name} reads back different from what was "
                                      "written")
