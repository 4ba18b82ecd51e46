from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roamline.provisioning.blockdev import (
    Kind,
    Overrides,
    TargetFacts,
    inspect_target,
    parse_mountinfo,
    refusals,
)

MOUNTINFO = (
    "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard\n"
    "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
    "90 27 7:3 / /media/my\\040card rw - ext4 /dev/loop3 rw\n"
    "91 27 179:2 / /mnt/x rw shared:5 master:1 - ext4 /dev/mmcblk0p2 rw\n"
    "broken line\n"
)
CARD = TargetFacts("/dev/sdb", Kind.BLOCK, 32 << 30, name="sdb", removable=True)


def test_parse_mountinfo() -> None:
    mounts = parse_mountinfo(MOUNTINFO)
    assert [(m.major, m.minor, m.mount_point, m.source) for m in mounts] == [
        (254, 0, "/", "/dev/vda"), (0, 21, "/proc", "proc"), (7, 3, "/media/my card", "/dev/loop3"),
        (179, 2, "/mnt/x", "/dev/mmcblk0p2")]


@given(st.text(alphabet=st.characters(blacklist_characters="\n\r\x00", blacklist_categories=("Cs",)),
               min_size=1, max_size=30).filter(lambda s: " " not in s and "\\" not in s))
def test_mountinfo_mount_point_escapes_roundtrip(name: str) -> None:
    escaped = name.replace("\t", "\\011")
    mount = f"/media/{escaped}\\040x"
    assert parse_mountinfo(f"1 2 8:1 / {mount} rw - vfat /dev/sdb1 rw\n")[0].mount_point == f"/media/{name} x"


@given(st.text(max_size=400))
def test_mountinfo_garbage_never_crashes(text: str) -> None:
    for m in parse_mountinfo(text):
        assert m.major >= 0 and m.minor >= 0


def test_a_removable_card_of_the_right_size_passes() -> None:
    assert refusals(CARD, 8 << 30) == []


@pytest.mark.parametrize(("facts", "reason"), [
    (TargetFacts("/dev/sdb", Kind.BLOCK, 4 << 30, name="sdb", removable=True), "smaller (4294967296 bytes)"),
    (TargetFacts("/dev/sdb1", Kind.BLOCK, 32 << 30, name="sdb1", removable=True, is_partition=True),
     "is a partition (sdb1)"),
    (TargetFacts("/dev/sdb", Kind.BLOCK, 32 << 30, name="sdb", removable=True, mounts=("/media/x (sdb1)",)),
     "is mounted (/media/x (sdb1)); unmount it first"),
    (TargetFacts("/dev/vda", Kind.BLOCK, 1 << 40, name="vda", mounts=("/ (vda)",), system_mounts=("/",)),
     "holds the running system (/ mounted from it)"),
    (TargetFacts("/dev/sdb", Kind.BLOCK, 32 << 30, name="sdb", removable=True, swap=("/dev/sdb2",)),
     "in use as swap"),
    (TargetFacts("/dev/sda", Kind.BLOCK, 32 << 30, name="sda"), "is not removable"),
    (TargetFacts("/dev/loop0", Kind.BLOCK, 0, name="loop0", is_loop=True), "no backing file"),
    (TargetFacts("/dev/loop0", Kind.BLOCK, 32 << 30, name="loop0", is_loop=True, loop_backing="/x"),
     "--allow-loop"),
    (TargetFacts("/dev/null", Kind.OTHER, 0), "neither a block device nor a regular file"),
    (TargetFacts("/tmp/a.img", Kind.FILE, 0, same_as_image=True), "is the image itself"),
])
def test_each_refusal(facts: TargetFacts, reason: str) -> None:
    why = refusals(facts, 8 << 30)
    assert any(reason in w for w in why), why


def test_overrides_lift_only_what_they_name() -> None:
    internal = TargetFacts("/dev/sda", Kind.BLOCK, 32 << 30, name="sda")
    assert "not confirmed" in refusals(internal, 1, Overrides(force=True))[0]
    assert "not confirmed" in refusals(internal, 1, Overrides(force=True, confirm=("/dev/sdb",)))[0]
    assert refusals(internal, 1, Overrides(confirm=("/dev/sda",)))  # confirm without force: no
    assert refusals(internal, 1, Overrides(force=True, confirm=("/dev/sda",))) == []
    loop = TargetFacts("/dev/loop1", Kind.BLOCK, 32 << 30, name="loop1", is_loop=True, loop_backing="/b")
    assert refusals(loop, 1, Overrides(allow_loop=True)) == []
    assert refusals(loop, 1, Overrides(force=True, confirm=("/dev/loop1",)))  # force is not allow-loop
    system = TargetFacts("/dev/vda", Kind.BLOCK, 1 << 40, name="vda", system_mounts=("/",),
                         mounts=("/ (vda)",))
    everything = Overrides(allow_loop=True, force=True, confirm=("/dev/vda",))
    assert refusals(system, 1, everything) == ["holds the running system (/ mounted from it)"]
    small = TargetFacts("/dev/loop1", Kind.BLOCK, 1 << 20, name="loop1", is_loop=True, loop_backing="/b")
    assert "smaller" in refusals(small, 2 << 20, everything)[0]


def test_the_running_system_disk_is_refused() -> None:
    """The disk / is mounted from, as the kernel reports it (read-only inspection: nothing is opened)."""
    root = next(m for m in parse_mountinfo(Path("/proc/self/mountinfo").read_text()) if m.mount_point == "/")
    if not root.source.startswith("/dev/") or not Path(root.source).exists():
        pytest.skip(f"/ is not mounted from a block device here ({root.source})")
    facts = inspect_target(root.source)
    assert facts.kind is Kind.BLOCK and "/" in facts.system_mounts
    why = refusals(facts, 1 << 20, Overrides(allow_loop=True, force=True, confirm=(root.source,)))
    assert any("holds the running system" in w for w in why)


def test_loop_devices_as_the_kernel_reports_them(loop_device: Callable[[int], str], tmp_path: Path) -> None:
    dev = loop_device(16)
    facts = inspect_target(dev)
    assert (facts.kind, facts.is_loop, facts.size) == (Kind.BLOCK, True, 16 << 20)
    assert (facts.removable, facts.mounts) == (False, ())
    assert facts.loop_backing.endswith("loop0.bin")
    assert refusals(facts, 8 << 20, Overrides(allow_loop=True)) == []
    assert any("smaller" in w for w in refusals(facts, 17 << 20, Overrides(allow_loop=True)))


def test_a_mounted_loop_device_is_refused(loop_device: Callable[[int], str], tmp_path: Path) -> None:
    dev = loop_device(16)
    subprocess.run(["mkfs.ext4", "-q", dev], check=True, capture_output=True)
    where = tmp_path / "mnt"
    where.mkdir()
    done = subprocess.run(["mount", dev, str(where)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here: {done.stderr.strip()}")
    try:
        facts = inspect_target(dev)
        assert facts.mounts == (f"{where} ({Path(dev).name})",)
        why = refusals(facts, 1 << 20, Overrides(allow_loop=True))
        assert why == [f"is mounted ({where} ({Path(dev).name})); unmount it first"]
        # and the kernel agrees: an exclusive open fails while it is mounted
        with pytest.raises(OSError, match="busy"):
            os.close(os.open(dev, os.O_WRONLY | os.O_EXCL))
    finally:
        subprocess.run(["umount", str(where)], check=True)
    assert refusals(inspect_target(dev), 1 << 20, Overrides(allow_loop=True)) == []


def test_files_and_other_things(tmp_path: Path) -> None:
    image = tmp_path / "a.img"
    image.write_bytes(b"x" * 1000)
    assert inspect_target(str(tmp_path / "new.img")).kind is Kind.FILE
    assert refusals(inspect_target(str(tmp_path / "new.img"), str(image)), 1000) == []
    assert refusals(inspect_target(str(image), str(image)), 1000) == ["is the image itself"]
    assert inspect_target("/dev/null").kind is Kind.OTHER
    from roamline.provisioning.errors import UsageError

    with pytest.raises(UsageError, match="no such file"):
        inspect_target(str(tmp_path / "no" / "dir.img"))
