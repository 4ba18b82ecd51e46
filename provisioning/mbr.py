"""The MBR partition table of a disk image (sans-I/O: 512 bytes in, partitions out).

Raspberry Pi images use an MBR (DOS) partition table whose first partition is the FAT boot partition.
Only the four primary entries are read; a GPT disk (protective entry 0xEE) is refused by name, since
its real table lives elsewhere.
"""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass

from roamline.provisioning.errors import PeerError

SECTOR = 512
SIGNATURE = b"\x55\xaa"
FAT_TYPES = frozenset({0x01, 0x04, 0x06, 0x0B, 0x0C, 0x0E})
GPT_PROTECTIVE = 0xEE
_ENTRY = struct.Struct("<B3sB3sII")


class BadPartitionTable(PeerError):
    """The image's first sector is not a usable MBR."""


@dataclass(frozen=True, slots=True)
class Partition:
    number: int  # 1..4
    type: int
    start_lba: int
    sectors: int
    bootable: bool

    @property
    def offset(self) -> int:
        return self.start_lba * SECTOR

    @property
    def size(self) -> int:
        return self.sectors * SECTOR

    @property
    def end(self) -> int:
        return self.offset + self.size

    @property
    def is_fat(self) -> bool:
        return self.type in FAT_TYPES


def parse_mbr(sector: bytes) -> tuple[Partition, ...]:
    """The non-empty primary partitions described by the first sector of a disk."""
    if len(sector) < SECTOR:
        raise BadPartitionTable(f"first sector is {len(sector)} bytes, not {SECTOR}")
    if sector[510:512] != SIGNATURE:
        raise BadPartitionTable("no MBR signature (55 AA) in the first sector")
    parts: list[Partition] = []
    for i in range(4):
        status, _chs1, ptype, _chs2, start, count = _ENTRY.unpack_from(sector, 446 + 16 * i)
        if ptype == 0 and count == 0:
            continue
        if status not in (0x00, 0x80):
            raise BadPartitionTable(f"partition {i + 1}: status byte {status:#04x} is neither 00 nor 80")
        if ptype == GPT_PROTECTIVE:
            raise BadPartitionTable("GPT disk (protective MBR): only MBR images are supported")
        if ptype == 0 or count == 0 or start == 0:
            raise BadPartitionTable(f"partition {i + 1}: type {ptype:#04x}, start {start}, {count} sectors")
        parts.append(Partition(i + 1, ptype, start, count, status == 0x80))
    ordered = sorted(parts, key=lambda p: p.start_lba)
    for a, b in itertools.pairwise(ordered):
        if a.start_lba + a.sectors > b.start_lba:
            raise BadPartitionTable(f"partitions {a.number} and {b.number} overlap")
    return tuple(parts)


def encode_mbr(parts: list[Partition] | tuple[Partition, ...], disk_id: int = 0) -> bytes:
    """A first sector holding ``parts`` (CHS fields left as the LBA-only marker FE FF FF)."""
    if len(parts) > 4:
        raise ValueError("an MBR holds at most four primary partitions")
    out = bytearray(SECTOR)
    struct.pack_into("<I", out, 440, disk_id)
    for p in parts:
        if not 1 <= p.number <= 4:
            raise ValueError(f"partition number {p.number} is not 1..4")
        _ENTRY.pack_into(out, 446 + 16 * (p.number - 1), 0x80 if p.bootable else 0, b"\xfe\xff\xff", p.type,
                         b"\xfe\xff\xff", p.start_lba, p.sectors)
    out[510:512] = SIGNATURE
    return bytes(out)


def boot_partition(parts: tuple[Partition, ...], image_size: int) -> Partition:
    """The first FAT partition, which must lie inside the image."""
    for p in sorted(parts, key=lambda p: p.number):
        if p.is_fat:
            if p.end > image_size:
                raise BadPartitionTable(f"boot partition {p.number} ends at {p.end}, past the image's "
                                        f"{image_size} bytes")
            return p
    raise BadPartitionTable("no FAT boot partition in the image's partition table")
