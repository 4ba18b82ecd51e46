"""Whole-root updates through the commands, on files standing for the partitions (and a loop device when
this machine lets us make one): `provision update build --root-image`, `box update apply` (written to the
inactive root partition, read back against the signed digest, trial armed with the board's boot loader),
`box update boot` (the boot loader's trial observed), `box update health` (commit, or not). The trial
boot itself is what the boot loader does; here its effects are put in place by hand (the Pi's
/proc/cmdline and chosen/tryboot, or the initrd's /run/roamline-slot). Refused: a corrupted bundle, one
signed by another key, a root image whose own digest does not match, one larger than the partition."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from roamline.cli.main import main as cli_main
from roamline.firmware.update.rootinstall import FileRootState
from roamline.firmware.update.rootslot import RootSlotState
from roamline.provisioning import image_plan
from roamline.provisioning.update_bundle import load_operator_key
from roamline.wire import update

DISK = "c0ffee01"
SLOT_BYTES = 16 << 20
CMDLINE = f"console=tty1 root=PARTUUID={DISK}-02 rootfstype=ext4 ro rootwait\n"


def cli(capsys: Any, *argv: str) -> tuple[int, dict[str, Any], str]:
    capsys.readouterr()
    rc = cli_main(list(argv))
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    return rc, (json.loads(lines[-1]) if lines else {}), err


class Box:
    """A box on files: image.json, the root partitions (files of the slot size), the boot partition (a
    directory), /proc and /run (a directory), the update state with the operator's key."""

    def __init__(self, root: Path, board: str) -> None:
        self.root = root
        self.dev = root / "dev"
        self.boot = root / "boot"
        self.sys = root / "sys"
        self.state = root / "state"
        for d in (self.dev, self.boot, self.sys / "proc/device-tree/chosen/bootloader", self.sys / "run",
                  self.state, root / "operator"):
            d.mkdir(parents=True)
        layout = image_plan.plan_layout(root_bytes=SLOT_BYTES * 4 // 5, disk_id=int(DISK, 16),
                                        min_root_mib=16)
        self.image_json = root / "image.json"
        self.image_json.write_text(image_plan.image_json(layout, board=board, pi_model="x", source="test"))
        self.slot_bytes = layout.root_a.size
        self.factory = os.urandom(1 << 20)
        for nr in ("02", "03"):
            with open(self.dev / f"{DISK}-{nr}", "wb") as f:
                f.truncate(self.slot_bytes)
        with open(self.dev / f"{DISK}-02", "r+b") as f:
            f.write(self.factory)  # slot A's "root": must never change
        (self.boot / "config.txt").write_text(image_plan.config_txt("vmlinuz-1", "initrd.img-1"))
        (self.boot / "cmdline.txt").write_text(CMDLINE)
        self.booted("A", trial=False)

    def booted(self, slot: str, trial: bool) -> None:
        """What the boot loader leaves for the system: the kernel's command line, the firmware's tryboot
        property (Pi), the initrd's choice (initrd-flag)."""
        nr = {"A": "02", "B": "03"}[slot]
        (self.sys / "proc/cmdline").write_text(CMDLINE.replace(f"{DISK}-02", f"{DISK}-{nr}"))
        (self.sys / "proc/device-tree/chosen/bootloader/tryboot").write_bytes(int(trial).to_bytes(4, "big"))
        (self.sys / "run/roamline-slot").write_text(f"slot={slot} mode={'trial' if trial else 'committed'}\n")
        flag = self.boot / "roamline-tryboot.txt"
        if trial and flag.exists():
            flag.write_text("")  # the initrd spends its one-shot flag (the Pi firmware clears its own)

    def opts(self) -> list[str]:
        return ["--state", str(self.state), "--image-json", str(self.image_json), "--boot-dir",
                str(self.boot), "--sys-root", str(self.sys)]

    def device(self, slot: str) -> Path:
        return self.dev / f"{DISK}-{ {'A': '02', 'B': '03'}[slot] }"


@pytest.fixture(params=["pi4-ag1171", "sim"])
def box(request: Any, tmp_path: Path, capsys: Any) -> Box:
    b = Box(tmp_path, request.param)
    assert cli(capsys, "provision", "update", "keygen", "--out", str(tmp_path / "operator"))[0] == 0
    shutil.copy(tmp_path / "operator" / "operator.pem", b.state / "operator.pem")
    return b


def root_image(where: Path, version: str, size: int = 8 << 20) -> Path:
    """A real ext4 root (mkfs.ext4 -d) carrying its version."""
    tree = where / f"tree-{version}"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc" / "roamline-root-version").write_text(version + "\n")
    img = where / f"root-{version}.ext4"
    with open(img, "wb") as f:
        f.truncate(size)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(tree), "-L", "rootB", str(img)], check=True,
                   capture_output=True)
    return img


def build(capsys: Any, box: Box, version: str, health: str, *, image: Path | None = None,
          key: Path | None = None) -> Path:
    out = box.root / f"root-{version}.rlu"
    (box.root / "vmlinuz-2").write_bytes(b"kernel " + version.encode())
    (box.root / "initrd.img-2").write_bytes(b"initrd " + version.encode())
    rc, got, err = cli(capsys, "provision", "update", "build", "--root-image",
                       str(image or root_image(box.root, version)), "--kernel", str(box.root / "vmlinuz-2"),
                       "--initrd", str(box.root / "initrd.img-2"), "--version", version, "--key",
                       str(key or box.root / "operator" / "operator.key"), "--health", health,
                       "--out", str(out))
    assert rc == 0, err
    assert got["kind"] == "root"
    return out


def sha(path: Path, size: int) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read(size)).hexdigest()


def test_a_root_update_is_written_tried_once_and_committed(box: Box, capsys: Any) -> None:
    img = root_image(box.root, "2.0")
    bundle = build(capsys, box, "2.0", "true", image=img)
    rc, out, err = cli(capsys, "box", "update", "apply", str(bundle), *box.opts(), "--dev-dir", str(box.dev))
    assert rc == 0, err
    tryboot = json.loads(box.image_json.read_text())["board"] == "pi4-ag1171"  # the board's boot loader
    assert (out["installed"], out["kind"], out["version"]) == ("B", "root", "2.0")
    assert out["reboot_argument"] == ("0 tryboot" if tryboot else "")
    size = img.stat().st_size
    assert sha(box.device("B"), size) == sha(img, size)  # written to partition 3 …
    assert box.device("A").read_bytes()[: 1 << 20] == box.factory  # … and slot A untouched
    debugfs = subprocess.run(["debugfs", "-R", "cat /etc/roamline-root-version", str(box.device("B"))],
                             capture_output=True, text=True, check=True)
    assert debugfs.stdout.strip() == "2.0"  # a real ext4 on the partition
    assert (box.boot / "slot-b" / "vmlinuz-2").read_bytes() == b"kernel 2.0"
    assert (box.boot / "slot-b" / "initrd.img-2").read_bytes() == b"initrd 2.0"
    if tryboot:
        assert "cmdline=slot-b/cmdline.txt" in (box.boot / "tryboot.txt").read_text()
        assert "kernel=slot-b/vmlinuz-2" in (box.boot / "tryboot.txt").read_text()
    else:
        assert (box.boot / "roamline-tryboot.txt").read_text() == "B\n"
    store = FileRootState(box.state)
    assert store.load().slots["B"] is RootSlotState.ARMED
    # the boot loader's trial boot of B
    box.booted("B", trial=True)
    rc, out, err = cli(capsys, "box", "update", "boot", *box.opts())
    assert rc == 0, err
    assert (out["root_slot"], out["root_mode"], out["root_state"], out["root_version"]) == \
        ("B", "trial", "trying", "2.0")
    assert out["booted"] == "a"  # the application slots are another matter (factory install)
    rc, out, err = cli(capsys, "box", "update", "health", *box.opts())
    assert rc == 0, err
    assert (out["root_slot"], out["healthy"], out["committed"]) == ("B", True, "B")
    if tryboot:
        assert not (box.boot / "tryboot.txt").exists()
        assert "cmdline=slot-b/cmdline.txt" in (box.boot / "config.txt").read_text()
    else:
        assert (box.boot / "roamline-slot.txt").read_text() == "B\n"
    box.booted("B", trial=False)
    rc, out, _ = cli(capsys, "box", "update", "boot", *box.opts())
    assert (out["root_slot"], out["root_mode"], out["root_state"], out["root_committed"]) == \
        ("B", "committed", "good", "B")
    # the next root update goes to A, never to the running B
    bundle = build(capsys, box, "3.0", "true")
    rc, out, err = cli(capsys, "box", "update", "apply", str(bundle), *box.opts(), "--dev-dir", str(box.dev))
    assert (rc, out["installed"]) == (0, "A"), err
    debugfs = subprocess.run(["debugfs", "-R", "cat /etc/roamline-root-version", str(box.device("B"))],
                             capture_output=True, text=True, check=True)
    assert debugfs.stdout.strip() == "2.0"


@pytest.mark.parametrize("how", ["health-fails", "no-verdict", "trial-never-came-up"])
def test_a_bad_root_falls_back_to_the_committed_slot(box: Box, capsys: Any, how: str) -> None:
    bundle = build(capsys, box, "3.0", "sh -c 'echo link down >&2; exit 3'")
    rc, _, err = cli(capsys, "box", "update", "apply", str(bundle), *box.opts(), "--dev-dir", str(box.dev))
    assert rc == 0, err
    if how != "trial-never-came-up":
        box.booted("B", trial=True)
        cli(capsys, "box", "update", "boot", *box.opts())
        if how == "health-fails":
            rc, out, err = cli(capsys, "box", "update", "health", *box.opts())
            assert rc == 1 and (out["healthy"], out["root_state"], out["committed"]) == (False, "bad", "A")
            assert "root slot B is not healthy" in err and "exited 3: link down" not in out
    # the next boot: the one-shot trial is spent, the boot loader boots the committed A
    box.booted("A", trial=False)
    rc, out, _ = cli(capsys, "box", "update", "boot", *box.opts())
    assert (out["root_slot"], out["root_mode"], out["root_state"], out["root_committed"]) == \
        ("A", "committed", "good", "A")
    assert FileRootState(box.state).load().slots["B"] is RootSlotState.BAD
    assert not (box.boot / "tryboot.txt").exists()  # the trial that did not make it is forgotten
    flag = box.boot / "roamline-tryboot.txt"
    assert not flag.exists() or not flag.read_text()


def test_corrupted_or_foreign_bundles_write_nothing(box: Box, capsys: Any, tmp_path: Path) -> None:
    bundle = build(capsys, box, "2.0", "true")
    raw = bytearray(bundle.read_bytes())
    raw[len(raw) // 2] ^= 0x01  # one bit of the payload
    bad = tmp_path / "corrupt.rlu"
    bad.write_bytes(bytes(raw))
    rc, _, err = cli(capsys, "box", "update", "apply", str(bad), *box.opts(), "--dev-dir", str(box.dev))
    assert rc == 1 and "does not match its signed digest" in err
    other = tmp_path / "other"
    other.mkdir()
    cli(capsys, "provision", "update", "keygen", "--out", str(other))
    foreign = build(capsys, box, "2.1", "true", key=other / "operator.key")
    rc, _, err = cli(capsys, "box", "update", "apply", str(foreign), *box.opts(), "--dev-dir", str(box.dev))
    assert rc == 1 and "not signed by the trusted operator key" in err
    assert box.device("B").read_bytes() == bytes(box.slot_bytes)  # not a byte written
    assert not FileRootState(box.state).exists()
    assert not (box.boot / "slot-b").exists() and not (box.boot / "tryboot.txt").exists()


def _forged(box: Box, image: Path, claimed_sha: str, claimed_size: int) -> Path:
    """A correctly signed bundle whose manifest claims another root image digest (or size): the payload
    digest matches, the image does not."""
    import tarfile
    import tempfile

    key = load_operator_key(box.root / "operator" / "operator.key")
    out = box.root / "forged.rlu"
    with tempfile.TemporaryFile() as payload:
        with tarfile.open(fileobj=payload, mode="w:gz", compresslevel=1) as tar:
            tar.add(image, arcname="rootfs.img")
            tar.add(box.root / "vmlinuz-2", arcname="boot/vmlinuz-2")
            tar.add(box.root / "initrd.img-2", arcname="boot/initrd.img-2")
        size = payload.tell()
        payload.seek(0)
        body = payload.read()
    m = update.Manifest("2.0", hashlib.sha256(body).hexdigest(), size, ("true",),
                        root=update.RootImage(claimed_sha, claimed_size, "vmlinuz-2", "initrd.img-2"))
    out.write_bytes(update.encode_header(m, update.sign(key, m)) + body)
    return out


def test_a_root_image_not_matching_its_signed_digest_is_never_armed(box: Box, capsys: Any) -> None:
    img = root_image(box.root, "2.0")
    build(capsys, box, "2.0", "true", image=img)  # kernel and initrd files
    forged = _forged(box, img, "0" * 64, img.stat().st_size)
    rc, _, err = cli(capsys, "box", "update", "apply", str(forged), *box.opts(), "--dev-dir", str(box.dev))
    assert rc == 1 and "root image does not match its signed digest" in err
    state = FileRootState(box.state).load()
    assert state.slots["B"] is RootSlotState.INSTALLING and state.committed == "A"  # never bootable
    assert not (box.boot / "tryboot.txt").exists() and not (box.boot / "roamline-tryboot.txt").exists()
    assert not (box.boot / "slot-b").exists() and not (box.boot / "slot-b.new").exists()
    box.booted("A", trial=False)
    rc, out, _ = cli(capsys, "box", "update", "boot", *box.opts())
    assert (out["root_slot"], out["root_state"]) == ("A", "good")
    # too big for the partition: refused before a byte is written
    big = box.root / "big.img"
    with open(big, "wb") as f:
        f.truncate(box.slot_bytes + 4096)
    box.device("B").write_bytes(bytes(box.slot_bytes))
    bundle = build(capsys, box, "2.2", "true", image=big)
    rc, _, err = cli(capsys, "box", "update", "apply", str(bundle), *box.opts(), "--dev-dir", str(box.dev))
    assert rc == 1 and "does not fit slot B" in err
    assert box.device("B").read_bytes() == bytes(box.slot_bytes)


def test_an_application_bundle_still_goes_to_an_application_slot(box: Box, capsys: Any) -> None:
    app = box.root / "app"
    app.mkdir()
    (app / "health").write_text("#!/bin/sh\nexit 0\n")
    (app / "health").chmod(0o755)
    out_file = box.root / "app.rlu"
    rc, got, err = cli(capsys, "provision", "update", "build", "--payload", str(app), "--version", "2.0",
                       "--key", str(box.root / "operator" / "operator.key"), "--health", "./health",
                       "--out", str(out_file))
    assert rc == 0 and got["kind"] == "app", err
    m = update.HeaderDecoder().feed(out_file.read_bytes()[:70000])
    assert m is not None and b'"kind"' not in m.signed  # application manifests keep their old bytes
    rc, out, err = cli(capsys, "box", "update", "apply", str(out_file), *box.opts(), "--dev-dir",
                       str(box.dev))
    assert (rc, out["installed"]) == (0, "b"), err
    assert box.device("B").read_bytes() == bytes(box.slot_bytes)


def test_build_refuses_half_a_root(box: Box, capsys: Any) -> None:
    img = root_image(box.root, "2.0")
    rc = cli_main(["provision", "update", "build", "--root-image", str(img), "--version", "2.0", "--key",
                   str(box.root / "operator" / "operator.key"), "--out", str(box.root / "x.rlu")])
    assert rc == 2 and "--root-image needs --kernel and --initrd" in capsys.readouterr().err


def _losetup(path: Path) -> str | None:
    try:
        done = subprocess.run(["losetup", "--find", "--show", str(path)], capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def test_written_to_a_loop_device(tmp_path: Path, capsys: Any) -> None:
    """The same install onto a block device (a loop device over a file): streamed, flushed, read back
    past the page cache."""
    box = Box(tmp_path, "pi4-ag1171")
    assert cli(capsys, "provision", "update", "keygen", "--out", str(tmp_path / "operator"))[0] == 0
    shutil.copy(tmp_path / "operator" / "operator.pem", box.state / "operator.pem")
    backing = tmp_path / "slotB.bin"
    with open(backing, "wb") as f:
        f.truncate(box.slot_bytes)
    loop = _losetup(backing)
    if loop is None:
        pytest.skip("no loop device here (losetup failed)")
    try:
        box.device("B").unlink()
        box.device("B").symlink_to(loop)  # as /dev/disk/by-partuuid/… links to /dev/mmcblk0p3
        img = root_image(tmp_path, "2.0")
        bundle = build(capsys, box, "2.0", "true", image=img)
        rc, out, err = cli(capsys, "box", "update", "apply", str(bundle), *box.opts(), "--dev-dir",
                           str(box.dev))
        assert (rc, out["installed"]) == (0, "B"), err
        assert sha(Path(loop), img.stat().st_size) == sha(img, img.stat().st_size)
    finally:
        subprocess.run(["losetup", "-d", loop], check=False)
    assert sha(backing, img.stat().st_size) == sha(img, img.stat().st_size)


def test_a_broken_root_record_never_stops_the_application_choice(tmp_path: Path, capsys: Any) -> None:
    """`box update boot` runs before the firmware: whatever is wrong with the root slots, it answers for
    the application slots (the firmware must start: the lifeline)."""
    box = Box(tmp_path, "no-such-board")
    rc, out, _ = cli(capsys, "box", "update", "boot", *box.opts())
    assert rc == 0 and out["booted"] == "a" and "no-such-board" in out["root_error"]
    box.image_json.write_text("{not json")
    rc, out, _ = cli(capsys, "box", "update", "boot", *box.opts())
    assert rc == 0 and out["booted"] == "a" and "not an image record" in out["root_error"]
