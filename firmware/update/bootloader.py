"""Boot-loader backends for whole-root A/B updates: what the boot loader is told (a one-shot trial of a
root slot, a commit, forgetting a trial) and what it reports (the slot booted, whether on trial). The
board profile names the backend (``[backends] bootloader``); ``rootslot`` is the state machine.

``tryboot`` (the Raspberry Pi firmware; its config.txt / autoboot.txt documentation): the firmware has a
one-shot ``tryboot`` flag, set by ``reboot "0 tryboot"`` and cleared by the firmware before it starts the
kernel, which makes it read ``tryboot.txt`` instead of ``config.txt``; the kernel sees the flag as
``/proc/device-tree/chosen/bootloader/tryboot`` (a big-endian u32). The image has one FAT boot
partition and two ext4 root partitions, so the switch is made at the file level: each slot's kernel,
initrd and ``cmdline.txt`` (its ``root=PARTUUID=<disk>-02|03``) live in ``slot-a/`` / ``slot-b/`` on the
boot partition (a fresh image's slot A uses the top-level files), ``tryboot.txt`` is ``config.txt`` with
``kernel=``, ``initramfs`` and ``cmdline=`` naming the trial slot's files, and committing makes it the new
``config.txt``. A crash, hang or power cut in the trial boots ``config.txt`` again: the committed slot.

``initrd-flag`` (machines without that firmware: the qemu ``virt`` machine of ``make image-test``): the
initrd (``provisioning/image_build.py``'s local-top script) reads ``roamline-slot.txt`` (the committed
slot) and ``roamline-tryboot.txt`` (a one-shot trial, emptied before the root is mounted) on the boot
partition, picks ``root=`` and records its choice in ``/run/roamline-slot`` (``slot=B mode=trial``). The
kernel is the one the machine was started with (under qemu: the harness's ``-kernel``), so this backend
switches the root filesystem, not the kernel.

Files are written atomically (tmp, fsync, rename, fsync the folder): on FAT a rename is not atomic on
power loss, but a half-written file is never renamed into place.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from roamline.firmware.errors import PeerError, UsageError
from roamline.firmware.update.rootslot import ROOT_SLOTS, Action, ArmTrial, Booted, Commit, Disarm

PARTITION_OF = {"A": 2, "B": 3}
SLOT_OF = {2: "A", 3: "B"}
BACKENDS = ("tryboot", "initrd-flag")


def atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def slot_of_cmdline(text: str, disk_id: str) -> str | None:
    """The root slot a kernel command line boots (``root=PARTUUID=<disk>-02|03``), else None."""
    m = re.search(r"(?:^|\s)root=PARTUUID=([0-9a-fA-F]{8})-(\d{2})(?:\s|$)", text)
    if m is None or m.group(1).lower() != disk_id.lower():
        return None
    return SLOT_OF.get(int(m.group(2)))


def with_root(cmdline: str, disk_id: str, slot: str) -> str:
    """``cmdline`` booting ``slot`` instead (its ``root=`` word replaced, or added)."""
    word = f"root=PARTUUID={disk_id}-{PARTITION_OF[slot]:02d}"
    words = [w for w in cmdline.split() if not w.startswith("root=")]
    return " ".join([*words[:1], word, *words[1:]] if words else [word]) + "\n"


@dataclass(frozen=True, slots=True)
class SlotFiles:
    """A root slot's kernel and initrd, already on the boot partition (names relative to it)."""
    kernel: str
    initrd: str


class BootLoader(Protocol):
    name: str

    def booted(self) -> Booted: ...

    def committed(self) -> str: ...

    def reboot_argument(self) -> str:
        """What ``reboot``/``systemctl reboot`` must pass for an armed trial to happen ("" for none)."""
        ...

    def stage_dir(self, slot: str) -> Path:
        """Where a slot's kernel and initrd go on the boot partition."""
        ...

    def perform(self, action: Action, files: SlotFiles | None = None) -> None: ...


def slot_folder(slot: str) -> str:
    return f"slot-{slot.lower()}"


class TrybootLoader:
    """The Raspberry Pi firmware's ``tryboot`` (see the module docstring). Paths are injectable (tests)."""

    name = "tryboot"

    def __init__(self, boot_dir: Path, disk_id: str, *, cmdline: Path = Path("/proc/cmdline"),
                 chosen: Path = Path("/proc/device-tree/chosen/bootloader")) -> None:
        self.boot, self.disk_id, self.proc_cmdline, self.chosen = Path(boot_dir), disk_id, cmdline, chosen

    def _config_lines(self, name: str = "config.txt") -> list[str]:
        try:
            return (self.boot / name).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise PeerError(f"{self.boot / name}: {exc.strerror or exc}") from None

    @staticmethod
    def _setting(lines: list[str], key: str) -> str | None:
        for line in lines:
            m = re.fullmatch(rf"\s*{key}[ =]\s*(\S+).*", line)
            if m is not None:
                return m.group(1)
        return None

    def committed(self) -> str:
        cmdline_name = self._setting(self._config_lines(), "cmdline") or "cmdline.txt"
        try:
            text = (self.boot / cmdline_name).read_text(encoding="utf-8")
        except OSError as exc:
            raise PeerError(f"{self.boot / cmdline_name}: {exc.strerror or exc}") from None
        slot = slot_of_cmdline(text, self.disk_id)
        if slot is None:
            raise PeerError(f"{self.boot / cmdline_name}: no root=PARTUUID={self.disk_id}-02|03")
        return slot

    def booted(self) -> Booted:
        try:
            text = self.proc_cmdline.read_text(encoding="utf-8")
        except OSError as exc:
            raise PeerError(f"{self.proc_cmdline}: {exc.strerror or exc}") from None
        slot = slot_of_cmdline(text, self.disk_id)
        if slot is None:
            raise PeerError(f"{self.proc_cmdline}: the kernel was not booted from root slot A or B")
        try:
            flag = (self.chosen / "tryboot").read_bytes()
        except FileNotFoundError:
            flag = b""  # firmware too old to say: not a trial
        except OSError as exc:
            raise PeerError(f"{self.chosen / 'tryboot'}: {exc.strerror or exc}") from None
        return Booted(slot, len(flag) >= 4 and int.from_bytes(flag[:4], "big") != 0)

    def reboot_argument(self) -> str:
        return "0 tryboot" if (self.boot / "tryboot.txt").exists() else ""

    def stage_dir(self, slot: str) -> Path:
        return self.boot / slot_folder(slot)

    def perform(self, action: Action, files: SlotFiles | None = None) -> None:
        if isinstance(action, ArmTrial):
            if files is None:
                raise UsageError("a tryboot trial needs the slot's kernel and initrd on the boot partition")
            lines = self._config_lines()
            cmdline_name = self._setting(lines, "cmdline") or "cmdline.txt"
            current = (self.boot / cmdline_name).read_text(encoding="utf-8")
            folder = self.stage_dir(action.slot)
            folder.mkdir(exist_ok=True)
            slot_cmdline = f"{slot_folder(action.slot)}/cmdline.txt"
            atomic_write(self.boot / slot_cmdline,
                         with_root(current, self.disk_id, action.slot).encode())
            keep = [ln for ln in lines if not re.match(r"\s*(kernel|cmdline)\s*=|\s*initramfs\s", ln)]
            body = [*keep, f"kernel={files.kernel}", f"initramfs {files.initrd} followkernel",
                    f"cmdline={slot_cmdline}", f"# roamline: trial of root slot {action.slot}"]
            atomic_write(self.boot / "tryboot.txt", ("\n".join(body) + "\n").encode())
        elif isinstance(action, Commit):
            trial = self.boot / "tryboot.txt"
            if not trial.exists():
                raise PeerError(f"{trial} missing: nothing to commit")
            text = trial.read_text(encoding="utf-8").replace(
                f"# roamline: trial of root slot {action.slot}", f"# roamline: root slot {action.slot}")
            atomic_write(self.boot / "config.txt", text.encode())
            trial.unlink()
            fsync_dir(self.boot)
        elif isinstance(action, Disarm):
            (self.boot / "tryboot.txt").unlink(missing_ok=True)
            fsync_dir(self.boot)


class FlagFileLoader:
    """The initrd's choice from two files on the boot partition (see the module docstring)."""

    name = "initrd-flag"
    COMMITTED, TRIAL = "roamline-slot.txt", "roamline-tryboot.txt"

    def __init__(self, boot_dir: Path, disk_id: str, *, run_file: Path = Path("/run/roamline-slot"),
                 cmdline: Path = Path("/proc/cmdline")) -> None:
        self.boot, self.disk_id, self.run_file, self.proc_cmdline = Path(boot_dir), disk_id, run_file, cmdline

    def _read(self, name: str) -> str:
        try:
            return (self.boot / name).read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return ""
        except (OSError, UnicodeDecodeError) as exc:
            raise PeerError(f"{self.boot / name}: {exc}") from None

    def committed(self) -> str:
        slot = self._read(self.COMMITTED)
        return slot if slot in ROOT_SLOTS else "A"

    def booted(self) -> Booted:
        try:
            text = self.run_file.read_text(encoding="ascii")
            words = dict(w.split("=", 1) for w in text.split() if "=" in w)
        except FileNotFoundError:
            words = {}
        except (OSError, UnicodeDecodeError) as exc:
            raise PeerError(f"{self.run_file}: {exc}") from None
        if words.get("slot") in ROOT_SLOTS:
            return Booted(words["slot"], words.get("mode") == "trial")
        try:  # the initrd made no choice (no files on the boot partition): root= as given
            slot = slot_of_cmdline(self.proc_cmdline.read_text(encoding="utf-8"), self.disk_id)
        except OSError as exc:
            raise PeerError(f"{self.proc_cmdline}: {exc.strerror or exc}") from None
        if slot is None:
            raise PeerError(f"{self.run_file} missing and {self.proc_cmdline} names no root slot")
        return Booted(slot, False)

    def reboot_argument(self) -> str:
        return ""

    def stage_dir(self, slot: str) -> Path:
        return self.boot / slot_folder(slot)

    def perform(self, action: Action, files: SlotFiles | None = None) -> None:
        if isinstance(action, ArmTrial):
            if not (self.boot / self.COMMITTED).exists():  # say what is committed before any trial
                atomic_write(self.boot / self.COMMITTED, (self.committed() + "\n").encode())
            atomic_write(self.boot / self.TRIAL, f"{action.slot}\n".encode())
        elif isinstance(action, Commit):
            atomic_write(self.boot / self.COMMITTED, f"{action.slot}\n".encode())
            atomic_write(self.boot / self.TRIAL, b"")
        elif isinstance(action, Disarm) and (self.boot / self.TRIAL).exists():
            atomic_write(self.boot / self.TRIAL, b"")


def for_backend(name: str, boot_dir: Path, disk_id: str,
                paths: Mapping[str, Path] | None = None) -> BootLoader:
    """The backend a board profile names (``[backends] bootloader``)."""
    p = dict(paths or {})
    if name == "tryboot":
        return TrybootLoader(boot_dir, disk_id,
                             **{k: v for k, v in p.items() if k in ("cmdline", "chosen")})
    if name == "initrd-flag":
        return FlagFileLoader(boot_dir, disk_id,
                              **{k: v for k, v in p.items() if k in ("run_file", "cmdline")})
    raise UsageError(f"no boot-loader backend {name!r} (known: {', '.join(BACKENDS)})")


def copy_into(src: Path, dest: Path) -> None:
    """Copy a file onto the boot partition (fsynced)."""
    with open(src, "rb") as fi, open(dest, "wb") as fo:
        shutil.copyfileobj(fi, fo, 1 << 20)
        fo.flush()
        os.fsync(fo.fileno())
