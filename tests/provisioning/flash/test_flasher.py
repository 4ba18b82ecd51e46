from __future__ import annotations

import errno
import hashlib
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from roamline.cli.main import main
from roamline.provisioning.bootinject import BOOT_DIR, BUNDLE_FILES, load_bundle
from roamline.provisioning.errors import UsageError
from roamline.provisioning.flasher import FileDevice, Job, Phase, Progress, flash_many, flash_one, read_image
from roamline.provisioning.mbr import BadPartitionTable
from roamline.wire import identity

from .conftest import BOOT_START, make_bundle, make_image

CHUNK = 1 << 20


def mtype(target: str, name: str) -> bytes:
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    return subprocess.run(["mtype", "-i", f"{target}@@{BOOT_START * 512}", f"::/{BOOT_DIR}/{name}"],
                          capture_output=True, check=True, env=env).stdout


def sha(path: str, size: int) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read(size)).hexdigest()


class Faulty(FileDevice):
    """The real device, failing with EIO once ``fail_at`` bytes have been written (fault injection at the
    writer's device interface)."""

    def __init__(self, path: str, fail_at: int) -> None:
        super().__init__(path)
        self.fail_at = fail_at
        self.written = 0
        self.failed = False

    def write_at(self, data: memoryview, offset: int) -> int:
        if not self.failed and offset + len(data) > self.fail_at:
            self.failed = True
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return super().write_at(data, offset)


def test_flash_a_loop_device_and_a_file_at_once(tmp_path: Path, loop_device: Callable[[int], str]) -> None:
    image = make_image(tmp_path / "pi.img")
    size = image.stat().st_size
    bundles = [load_bundle(make_bundle(tmp_path / f"id{i}", name=f"box{i}")) for i in range(2)]
    dev, out = loop_device(32), str(tmp_path / "card.img")
    seen: list[Progress] = []
    reports = flash_many(read_image(image, need_boot=True), [Job(FileDevice(dev), bundles[0]),
                                                             Job(FileDevice(out), bundles[1])],
                         chunk=CHUNK, sink=seen.append)
    assert [r.ok for r in reports] == [True, True], reports
    want = hashlib.sha256(image.read_bytes()).hexdigest()
    for r, target, bundle in zip(reports, (dev, out), bundles, strict=True):
        assert (r.target, r.bytes_written, r.image_sha256, r.readback_sha256) == (target, size, want, want)
        assert r.verify_method == "O_DIRECT" and r.box_id == bundle.box_id
        for name, data in bundle.files:
            assert mtype(target, name) == data
        # outside the boot partition the target is the image, byte for byte
        with open(target, "rb") as f:
            root = (BOOT_START + 32768) * 512
            f.seek(root)
            assert f.read(size - root) == image.read_bytes()[root:]
        phases = [p.phase for p in seen if p.target == target]
        assert phases[0] is Phase.WRITE and phases[-1] is Phase.DONE
        assert phases.index(Phase.SYNC) < phases.index(Phase.VERIFY) < phases.index(Phase.IDENTITY)
        writes = [p.done for p in seen if p.target == target and p.phase is Phase.WRITE]
        assert writes == sorted(writes) and writes[-1] == size and len(writes) == size // CHUNK
    assert Path(out).stat().st_size == size
    key = identity.load_private_key_pem(mtype(dev, "box.key"))
    assert identity.box_id_for_key(key.public_key()) == bundles[0].box_id


def test_a_device_failing_mid_write_is_reported_and_not_claimed(tmp_path: Path,
                                                                 loop_device: Callable[[int], str]) -> None:
    image = make_image(tmp_path / "pi.img")
    bundle = load_bundle(make_bundle(tmp_path / "id"))
    good, bad = loop_device(32), loop_device(32)
    faulty = Faulty(bad, fail_at=10 << 20)
    seen: list[Progress] = []
    jobs = [Job(FileDevice(good), bundle), Job(faulty, bundle)]
    reports = flash_many(read_image(image, need_boot=True), jobs, chunk=CHUNK, sink=seen.append)
    assert reports[0].ok and reports[0].box_id == bundle.box_id
    r = reports[1]
    assert (r.ok, r.error, r.box_id, r.readback_sha256) == (False, "write: Input/output error", "", "")
    assert r.wiped
    assert r.as_dict() == {"target": bad, "ok": False, "error": "write: Input/output error", "wiped": True}
    phases = [p.phase for p in seen if p.target == bad]
    assert phases[-1] is Phase.FAILED and Phase.VERIFY not in phases and Phase.IDENTITY not in phases
    assert max(p.done for p in seen if p.target == bad and p.phase is Phase.WRITE) == 10 << 20
    with open(bad, "rb") as f:  # the half-written card does not look flashed
        assert f.read(1 << 20) == bytes(1 << 20)


@pytest.mark.parametrize("direct", [True, False], ids=["O_DIRECT", "fadvise"])
def test_verification_reads_the_device_not_the_page_cache(tmp_path: Path, loop_device: Callable[[int], str],
                                                           direct: bool) -> None:
    """Bytes change under the loop device after writing (as a card that lost them would): the written
    pages are still cached for /dev/loopN, so only a read that bypasses the cache can notice. (The kernel
    drops a block device's cache when its last opener closes it; another program holding it open, as
    here, keeps the cache.)"""
    image = make_image(tmp_path / "pi.img")
    dev = loop_device(32)
    backing = Path(subprocess.run(["losetup", "-n", "-O", "BACK-FILE", dev], capture_output=True, text=True,
                                  check=True).stdout.strip())
    where = 20 << 20
    stale: list[bytes] = []

    class Decaying(FileDevice):
        def finish_write(self, size: int) -> None:
            super().finish_write(size)
            fd = os.open(backing, os.O_RDWR)
            try:
                os.pwrite(fd, b"\xde\xad\xbe\xef", where)
                os.fsync(fd)
            finally:
                os.close(fd)
            with open(dev, "rb") as f:  # what a cached read still shows
                f.seek(where)
                stale.append(f.read(4))

    holder = os.open(dev, os.O_RDONLY)
    try:
        report = flash_one(read_image(image, need_boot=False), Job(Decaying(dev, direct=direct)), chunk=CHUNK)
    finally:
        os.close(holder)
    assert stale == [image.read_bytes()[where : where + 4]]  # the cache still had the image's bytes
    assert not report.ok and "read-back: read-back sha256" in report.error and "differs" in report.error
    # the same flash without the change verifies, by the same method
    ok = flash_one(read_image(image, need_boot=False), Job(FileDevice(dev, direct=direct)), chunk=CHUNK)
    assert ok.ok and ok.verify_method == ("O_DIRECT" if direct else "fadvise-dontneed")


def test_a_device_failing_for_real(tmp_path: Path, loop_device: Callable[[int], str],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A loop device over a file on a full tmpfs: the kernel itself fails the writes (EIO)."""
    tm = tmp_path / "tm"
    tm.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(tm)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        (tm / "back").write_bytes(b"")
        os.truncate(tm / "back", 32 << 20)
        dev = subprocess.run(["losetup", "--find", "--show", str(tm / "back")], capture_output=True,
                             text=True, check=True).stdout.strip()
        try:
            image = make_image(tmp_path / "pi.img")
            ident = make_bundle(tmp_path / "id")
            status = main(["provision", "flash", str(image), dev, "--allow-loop", "--identity", str(ident),
                           "--json", "--quiet"])
            out, err = capsys.readouterr()
            assert status == 1
            assert '"ok": false' in out and '"ok": true' not in out and "box_id" not in out
            assert f"roamline: {dev}: FAILED at " in err and "Input/output error" in err
        finally:
            subprocess.run(["losetup", "-d", dev], check=True)
    finally:
        subprocess.run(["umount", str(tm)], check=True)


def test_the_command(tmp_path: Path, loop_device: Callable[[int], str],
                     capsys: pytest.CaptureFixture[str]) -> None:
    image = make_image(tmp_path / "pi.img")
    ident = make_bundle(tmp_path / "id")
    dev = loop_device(32)
    assert main(["provision", "flash", str(image), dev, "--identity", str(ident), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"refusing {dev}: is a loop device" in err and "--allow-loop" in err
    with open(dev, "rb") as f:
        assert f.read(4096) == bytes(4096)  # refused: nothing written
    small = loop_device(8)
    assert main(["provision", "flash", str(image), small, "--allow-loop", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"refusing {small}: is smaller (8388608 bytes) than the image (25165824 bytes)" in err
    assert main(["provision", "flash", str(image), dev, "--allow-loop"]) == 0
    out, err = capsys.readouterr()
    assert f"{dev}: written and verified (25165824 bytes, sha256 " in out and "O_DIRECT" in out
    assert "write 100%" in err and "verify 100%" in err
    assert sha(dev, 25165824) == hashlib.sha256(image.read_bytes()).hexdigest()


def test_bundles_and_images_are_checked_before_any_write(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    image = make_image(tmp_path / "pi.img")
    out = tmp_path / "card.img"
    a, b = make_bundle(tmp_path / "a"), make_bundle(tmp_path / "b")
    cases: list[tuple[list[str], str]] = [
        ([str(out), "--identity", str(a), "--identity", str(b)], "2 --identity bundles for 1 devices"),
        ([str(out), str(tmp_path / "c2.img"), "--identity", str(a), "--identity", str(a)], "same identity"),
        ([str(out), str(out)], "named twice"),
    ]
    (tmp_path / "nokey").mkdir()
    for name in BUNDLE_FILES[1:]:
        (tmp_path / "nokey" / name).write_bytes((a / name).read_bytes())
    cases.append(([str(out), "--identity", str(tmp_path / "nokey")], "lacks box.key"))
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for name in BUNDLE_FILES:
        (mixed / name).write_bytes(((b if name == "box.key" else a) / name).read_bytes())
    cases.append(([str(out), "--identity", str(mixed)], "box.pem is not the certificate of box.key"))
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    for name in BUNDLE_FILES:
        (foreign / name).write_bytes(((b if name == "ca.pem" else a) / name).read_bytes())
    cases.append(([str(out), "--identity", str(foreign)], "signature does not verify"))
    for argv, reason in cases:
        assert main(["provision", "flash", str(image), *argv]) == 2, argv
        assert reason in capsys.readouterr().err
    assert not out.exists()
    plain = tmp_path / "plain.img"
    plain.write_bytes(bytes(4 << 20))
    with pytest.raises(BadPartitionTable, match="signature"):
        read_image(plain, need_boot=True)
    assert read_image(plain, need_boot=False).size == 4 << 20
    with pytest.raises(UsageError, match="cannot read"):
        read_image(tmp_path / "none.img", need_boot=False)
