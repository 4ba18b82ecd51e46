"""The layout of a Roamline SD-card image, and the small text files that follow from it (sans-I/O).

One MBR disk, four primary partitions (docs/image.md is the contract the update code relies on):

====  =========  ==========  =================================================================
 nr   label      type        holds
====  =========  ==========  =================================================================
 1    ROAMBOOT   FAT32 (0c)  Pi firmware, kernel, initrd, DTBs, config.txt, cmdline.txt, and the
                             box identity bundle in ``/roamline/`` until first boot takes it
 2    rootA      Linux (83)  root slot A (read-only ext4), the slot the image boots first
 3    rootB      Linux (83)  root slot B (an empty ext4 the same size; updates write it)
 4    roamdata   Linux (83)  ``/data``: the box's writable state (identity, box.toml, SQLite)
====  =========  ==========  =================================================================

Partitions start on 4 MiB boundaries (SD cards' erase blocks). The active slot is the ``root=`` of
``cmdline.txt`` (``PARTUUID=<disk id>-02`` or ``-03``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from roamline.provisioning.errors import UsageError
from roamline.provisioning.mbr import SECTOR, Partition, encode_mbr

MIB = 1 << 20
ALIGN = 4 * MIB
FAT32_LBA = 0x0C
FAT16_LBA = 0x0E
LINUX = 0x83
BOOT_LABEL = "ROAMBOOT"
DATA_LABEL = "roamdata"
SLOT_LABELS = {"A": "rootA", "B": "rootB"}
SLOT_PARTITIONS = {"A": 2, "B": 3}
DATA_PARTITION = 4
BOOT_DIR = "roamline"  # the identity bundle's folder on the boot partition (bootinject.BOOT_DIR)


class PlanError(UsageError, ValueError):
    """The requested sizes cannot make an image."""


def fat_type(size: int) -> int:
    """FAT32 from 256 MiB (enough clusters at 4 KiB), FAT16 for smaller boot partitions."""
    return FAT32_LBA if size >= 256 * MIB else FAT16_LBA


def _round_up(n: int, to: int) -> int:
    return -(-n // to) * to


@dataclass(frozen=True, slots=True)
class ImageLayout:
    disk_id: int
    boot: Partition
    root_a: Partition
    root_b: Partition
    data: Partition

    @property
    def partitions(self) -> tuple[Partition, ...]:
        return (self.boot, self.root_a, self.root_b, self.data)

    @property
    def size(self) -> int:
        return self.data.end

    def mbr(self) -> bytes:
        return encode_mbr(self.partitions, self.disk_id)

    def partuuid(self, number: int) -> str:
        return f"{self.disk_id:08x}-{number:02d}"

    def slot(self, name: str) -> Partition:
        try:
            return {"A": self.root_a, "B": self.root_b}[name]
        except KeyError:
            raise PlanError(f"no root slot {name!r} (slots are A and B)") from None

    def as_dict(self) -> dict[str, object]:
        """The layout as the image records it (``/etc/roamline/image.json``) for the update code."""
        def part(p: Partition, label: str) -> dict[str, object]:
            return {"number": p.number, "label": label, "partuuid": self.partuuid(p.number),
                    "start_bytes": p.offset, "size_bytes": p.size}
        return {
            "disk_id": f"{self.disk_id:08x}",
            "boot": part(self.boot, BOOT_LABEL),
            "slots": {s: part(self.slot(s), SLOT_LABELS[s]) for s in ("A", "B")},
            "data": part(self.data, DATA_LABEL),
            "active_slot_selector": "cmdline.txt root=PARTUUID=<disk_id>-<partition number>",
        }


def plan_layout(*, root_bytes: int, disk_id: int, boot_mib: int = 256, data_mib: int = 256,
                headroom: float = 1.25, min_root_mib: int = 64) -> ImageLayout:
    """Partition sizes for a root filesystem of ``root_bytes`` (file data plus metadata as measured):
    each slot gets ``headroom`` times that (ext4 metadata, and room for a larger update), rounded to
    4 MiB; both slots are the same size so either can hold what the other does."""
    if root_bytes < 0 or boot_mib < 32 or data_mib < 16:
        raise PlanError(f"boot {boot_mib} MiB (≥ 32), data {data_mib} MiB (≥ 16), root {root_bytes} bytes")
    if not 0 < disk_id <= 0xFFFFFFFF:
        raise PlanError(f"disk id {disk_id:#x} is not a non-zero 32-bit number")
    slot = max(_round_up(int(root_bytes * headroom), ALIGN), min_root_mib * MIB)
    boot = _round_up(boot_mib * MIB, ALIGN)
    data = _round_up(data_mib * MIB, ALIGN)
    sizes = [(1, fat_type(boot), boot, True), (2, LINUX, slot, False), (3, LINUX, slot, False),
             (4, LINUX, data, False)]
    parts = []
    at = ALIGN
    for number, ptype, size, bootable in sizes:
        parts.append(Partition(number, ptype, at // SECTOR, size // SECTOR, bootable))
        at += size
    if at // SECTOR > 0xFFFFFFFF:
        raise PlanError("image larger than an MBR can describe (2 TiB)")
    return ImageLayout(disk_id, *parts)


def fstab() -> str:
    """Root read-only (whichever slot booted it), boot and data writable, scratch in RAM."""
    return "\n".join([
        "# Roamline image: the root slot is read-only; the box's state lives on /data (docs/image.md)",
        "/dev/root        /              ext4   ro,noatime                      0 0",
        f"LABEL={BOOT_LABEL} /boot/firmware vfat   rw,noatime,umask=0077,nofail    0 2",
        f"LABEL={DATA_LABEL} /data          ext4   rw,noatime,nosuid,nodev          0 2",
        "tmpfs            /tmp           tmpfs  rw,nosuid,nodev,mode=1777        0 0",
        "tmpfs            /var/tmp       tmpfs  rw,nosuid,nodev,mode=1777        0 0",
        "tmpfs            /var/log       tmpfs  rw,nosuid,nodev,mode=0755        0 0",
        "tmpfs            /var/lib/systemd tmpfs rw,nosuid,nodev,mode=0755       0 0",
        "",
    ])


PI_CONSOLE = "console=serial0,115200 console=tty1"


def cmdline(layout: ImageLayout, slot: str = "A", console: str = PI_CONSOLE) -> str:
    """The kernel command line: the active slot, read-only."""
    part = layout.slot(slot)
    return f"{console} root=PARTUUID={layout.partuuid(part.number)} rootfstype=ext4 ro rootwait " \
           "fsck.repair=yes net.ifnames=0\n"


@dataclass(frozen=True, slots=True)
class BoardBoot:
    """What the Pi's boot partition needs for one board: firmware files and the device trees."""
    model: str
    firmware: tuple[str, ...]  # from raspi-firmware (/usr/lib/raspi-firmware)
    dtbs: tuple[str, ...]  # from the kernel package (/usr/lib/linux-image-*/broadcom): the first is
    # required (the board's own), the others (its variants) are copied when the kernel has them
    note: str


BOARDS: dict[str, BoardBoot] = {
    "pi3": BoardBoot("pi3", ("bootcode.bin", "start.elf", "fixup.dat"),
                     ("bcm2837-rpi-3-b.dtb", "bcm2837-rpi-3-b-plus.dtb", "bcm2837-rpi-3-a-plus.dtb"),
                     "arm64 mode (arm_64bit=1)"),
    "pi4": BoardBoot("pi4", ("start4.elf", "fixup4.dat"),
                     ("bcm2711-rpi-4-b.dtb", "bcm2711-rpi-400.dtb", "bcm2711-rpi-cm4-io.dtb"), ""),
    "pi5": BoardBoot("pi5", (), ("bcm2712-rpi-5-b.dtb",), "the Pi 5's firmware is in its EEPROM"),
    "sim": BoardBoot("sim", (), (), "no Pi firmware: boots under qemu (aarch64 virt) for tests"),
}


def board_boot(pi_model: str) -> BoardBoot:
    try:
        return BOARDS[pi_model]
    except KeyError:
        raise PlanError(f"no image recipe for Pi model {pi_model!r} (known: {', '.join(BOARDS)})") from None


def config_txt(kernel: str, initrd: str) -> str:
    """The Pi firmware's config.txt for Debian's arm64 kernel (upstream device trees)."""
    return "\n".join([
        "# Roamline image (docs/image.md): Debian's arm64 kernel on the Pi firmware",
        "arm_64bit=1",
        "enable_uart=1",
        "upstream_kernel=1",
        "disable_overscan=1",
        f"kernel={kernel}",
        f"initramfs {initrd} followkernel",
        "",
    ])


def image_json(layout: ImageLayout, *, board: str, pi_model: str, source: str) -> str:
    record = {"format": 1, "board": board, "pi_model": pi_model, "source": source, **layout.as_dict()}
    return json.dumps(record, indent=1, sort_keys=True) + "\n"
