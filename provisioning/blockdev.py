"""Is this flashing target safe to overwrite? Facts about a target, and the pure rules that refuse it.

``inspect_target`` gathers facts from the kernel (``/sys/class/block``, ``/proc/self/mountinfo``,
``/proc/swaps``) without opening the device; ``refusals`` turns facts into reasons, so the rules are
tested on any facts. Refused, with no way round: a partition instead of a whole disk, a device that is
mounted or used as swap (any of its partitions or holders too), one that holds the running system, one
smaller than the image, an unbound loop device, anything that is neither a block device nor a regular
file. Refused unless overridden: a device that does not look removable (``force`` with the device's path
typed again as the confirmation), and a loop device (``allow_loop``; loop devices report non-removable).
A regular file is an image-file target: it is written in place and may grow.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from roamline.provisioning.errors import UsageError

SYS_BLOCK = Path("/sys/class/block")
SYSTEM_MOUNTS = frozenset({"/", "/usr", "/boot", "/boot/firmware", "/boot/efi", "/var", "/etc"})


class Kind(StrEnum):
    BLOCK = "block"
    FILE = "file"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Mount:
    major: int
    minor: int
    mount_point: str
    source: str


def _unescape(text: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (\\040 …)."""
    out, i = [], 0
    while i < len(text):
        digits = text[i + 1 : i + 4]
        if text[i] == "\\" and len(digits) == 3 and all(c in "01234567" for c in digits):
            out.append(chr(int(text[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> tuple[Mount, ...]:
    """``/proc/self/mountinfo`` lines into mounts (malformed lines are skipped, never guessed at)."""
    mounts: list[Mount] = []
    for line in text.split("\n"):  # not splitlines(): it also splits at \x85, \u2028 … inside names
        fields = line.split(" ")
        if len(fields) < 10 or "-" not in fields[6:]:
            continue
        sep = fields.index("-", 6)
        majmin = fields[2].split(":")
        if len(majmin) != 2 or not all(x.isdigit() for x in majmin) or len(fields) < sep + 3:
            continue
        mounts.append(Mount(int(majmin[0]), int(majmin[1]), _unescape(fields[4]), _unescape(fields[sep + 2])))
    return tuple(mounts)


@dataclass(frozen=True, slots=True)
class TargetFacts:
    path: str
    kind: Kind
    size: int  # bytes (0 for an unbound loop device or a new file)
    name: str = ""  # kernel name (sdb, loop3, mmcblk0)
    is_partition: bool = False
    is_loop: bool = False
    loop_backing: str = ""
    removable: bool = False  # the removable flag, a USB or SD (mmc) disk
    mounts: tuple[str, ...] = ()  # "where (what)" for each mount of the disk, its partitions or holders
    system_mounts: tuple[str, ...] = ()  # those of the running system (/, /usr, /boot …)
    swap: tuple[str, ...] = ()
    same_as_image: bool = False
    holders: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Overrides:
    allow_loop: bool = False
    force: bool = False  # not removable: needs the target's path among ``confirm``
    confirm: tuple[str, ...] = ()


def refusals(facts: TargetFacts, image_size: int, overrides: Overrides = Overrides()) -> list[str]:
    """Every reason not to write the image to this target (empty: go ahead)."""
    why: list[str] = []
    if facts.same_as_image:
        why.append("is the image itself")
    if facts.kind is Kind.OTHER:
        why.append("is neither a block device nor a regular file")
        return why
    if facts.kind is Kind.FILE:
        return why
    if facts.is_partition:
        why.append(f"is a partition ({facts.name}); give the whole device")
    if facts.system_mounts:
        why.append("holds the running system (" + ", ".join(facts.system_mounts) + " mounted from it)")
    elif facts.mounts:
        why.append("is mounted (" + ", ".join(facts.mounts) + "); unmount it first")
    if facts.swap:
        why.append("is in use as swap (" + ", ".join(facts.swap) + ")")
    if facts.is_loop and not facts.loop_backing:
        why.append("is a loop device with no backing file")
    elif facts.size < image_size:
        why.append(f"is smaller ({facts.size} bytes) than the image ({image_size} bytes)")
    if facts.is_loop:
        if not overrides.allow_loop:
            why.append("is a loop device (loop devices report non-removable; --allow-loop to write it)")
    elif not facts.removable:
        if not overrides.force:
            why.append("is not removable (is it an internal disk? --force and --confirm "
                       f"{facts.path} to write it anyway)")
        elif facts.path not in overrides.confirm:
            why.append(f"is not removable and was not confirmed (--confirm {facts.path})")
    return why


def _read(path: Path, default: str = "") -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return default


def _family(name: str, sys_block: Path) -> set[str]:
    """The disk's kernel name, its partitions' and (recursively) its holders' (device-mapper, md …)."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        node = sys_block / n
        if node.is_dir():
            todo.extend(p.name for p in node.iterdir() if (p / "partition").exists())
        holders = node / "holders"
        if holders.is_dir():
            todo.extend(h.name for h in holders.iterdir())
    return seen


def inspect_target(path: str, image: str | None = None, *, sys_block: Path = SYS_BLOCK,
                   mountinfo: str | None = None, swaps: str | None = None) -> TargetFacts:
    """Facts about ``path`` from the kernel's tables; opens nothing."""
    try:
        st = Path(path).stat()
    except FileNotFoundError:
        if Path(path).parent.is_dir():
            return TargetFacts(path, Kind.FILE, 0)
        raise UsageError(f"{path}: no such file or directory") from None
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror}") from None
    same = False
    if image is not None:
        try:
            ist = Path(image).stat()
            same = (ist.st_dev, ist.st_ino) == (st.st_dev, st.st_ino)
        except OSError:
            pass
    if stat.S_ISREG(st.st_mode):
        return TargetFacts(path, Kind.FILE, st.st_size, same_as_image=same)
    if not stat.S_ISBLK(st.st_mode):
        return TargetFacts(path, Kind.OTHER, 0, same_as_image=same)
    major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
    node = Path(os.path.realpath(f"/sys/dev/block/{major}:{minor}")) if sys_block == SYS_BLOCK else None
    name = node.name if node is not None else ""
    if not name:
        for entry in sys_block.iterdir():
            if _read(entry / "dev") == f"{major}:{minor}":
                name = entry.name
                break
    base = sys_block / name
    is_partition = (base / "partition").exists()
    size = int(_read(base / "size", "0") or 0) * 512
    is_loop = name.startswith("loop")
    backing = _read(base / "loop" / "backing_file") if is_loop else ""
    real = os.path.realpath(base)
    removable = _read(base / "removable") == "1" or "/usb" in real or name.startswith("mmcblk")
    family = _family(name, sys_block)
    numbers = {_read(sys_block / n / "dev"): n for n in family}
    text = mountinfo if mountinfo is not None else _read(Path("/proc/self/mountinfo"))
    mounts, system = [], []
    for m in parse_mountinfo(text):
        if f"{m.major}:{m.minor}" in numbers:
            mounts.append(f"{m.mount_point} ({numbers[f'{m.major}:{m.minor}']})")
            if m.mount_point in SYSTEM_MOUNTS:
                system.append(m.mount_point)
    swap_text = swaps if swaps is not None else _read(Path("/proc/swaps"))
    swap = [line.split()[0] for line in swap_text.splitlines()[1:]
            if line.split() and Path(line.split()[0]).name in family]
    holders = tuple(sorted(family - {name} - {p for p in family if (sys_block / p / "partition").exists()}))
    return TargetFacts(path, Kind.BLOCK, size, name=name, is_partition=is_partition, is_loop=is_loop,
                       loop_backing=backing, removable=removable, mounts=tuple(mounts),
                       system_mounts=tuple(system), swap=tuple(swap), same_as_image=same, holders=holders)
