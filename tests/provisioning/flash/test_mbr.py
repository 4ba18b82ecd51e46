from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roamline.provisioning.mbr import (
    BadPartitionTable,
    Partition,
    boot_partition,
    encode_mbr,
    parse_mbr,
)

from .conftest import BOOT_SECTORS, BOOT_START, make_image


@st.composite
def tables(draw: st.DrawFn) -> list[Partition]:
    """Up to four non-overlapping partitions in random slots."""
    count = draw(st.integers(0, 4))
    numbers = draw(st.permutations([1, 2, 3, 4]))[:count]
    lba = draw(st.integers(1, 4096))
    parts = []
    for n in numbers:
        lba += draw(st.integers(0, 1 << 20))
        size = draw(st.integers(1, 1 << 22))
        ptype = draw(st.integers(1, 255).filter(lambda t: t != 0xEE))
        parts.append(Partition(n, ptype, lba, size, draw(st.booleans())))
        lba += size
    return parts


@given(tables(), st.integers(0, 2**32 - 1))
def test_encode_parse_roundtrip(parts: list[Partition], disk_id: int) -> None:
    sector = encode_mbr(parts, disk_id)
    assert len(sector) == 512
    assert sorted(parse_mbr(sector), key=lambda p: p.number) == sorted(parts, key=lambda p: p.number)


@given(st.binary(min_size=0, max_size=600))
def test_parse_never_crashes_on_garbage(data: bytes) -> None:
    try:
        parts = parse_mbr(data)
    except BadPartitionTable:
        return
    assert len(parts) <= 4 and all(p.sectors > 0 and p.start_lba > 0 for p in parts)


@given(tables(), st.integers(0, 511), st.integers(0, 255))
def test_a_corrupted_byte_parses_or_is_refused(parts: list[Partition], where: int, value: int) -> None:
    sector = bytearray(encode_mbr(parts))
    sector[where] = value
    try:
        parsed = parse_mbr(bytes(sector))
    except BadPartitionTable:
        return
    ordered = sorted(parsed, key=lambda p: p.start_lba)
    assert all(a.end <= b.offset for a, b in itertools.pairwise(ordered))


def test_refusals() -> None:
    good = encode_mbr([Partition(1, 0x0C, 2048, 100, True)])
    with pytest.raises(BadPartitionTable, match="signature"):
        parse_mbr(good[:510] + b"\0\0")
    with pytest.raises(BadPartitionTable, match="512"):
        parse_mbr(good[:100])
    with pytest.raises(BadPartitionTable, match="GPT"):
        parse_mbr(encode_mbr([Partition(1, 0xEE, 1, 1000, False)]))
    with pytest.raises(BadPartitionTable, match="overlap"):
        parse_mbr(encode_mbr([Partition(1, 0x0C, 2048, 100, False), Partition(2, 0x83, 2100, 10, False)]))
    parts = parse_mbr(encode_mbr([Partition(2, 0x83, 4096, 100, False), Partition(1, 0x0C, 2048, 100, True)]))
    assert boot_partition(parts, 10 << 20).number == 1
    with pytest.raises(BadPartitionTable, match="past the image"):
        boot_partition(parts, 2048 * 512 + 50 * 512)
    with pytest.raises(BadPartitionTable, match="no FAT"):
        boot_partition(parse_mbr(encode_mbr([Partition(1, 0x83, 2048, 100, False)])), 10 << 20)


def test_reads_what_sfdisk_wrote(tmp_path: Path) -> None:
    image = make_image(tmp_path / "pi.img", mib=20)
    parts = parse_mbr(image.read_bytes()[:512])
    boot = boot_partition(parts, image.stat().st_size)
    assert (boot.number, boot.type, boot.start_lba, boot.sectors, boot.bootable) == (1, 0x0C, BOOT_START,
                                                                                      BOOT_SECTORS, True)
    assert [p.type for p in parts] == [0x0C, 0x83]
    # and what we encode, sfdisk reads
    sector = encode_mbr([Partition(1, 0x0C, 8192, 1024, True), Partition(2, 0x83, 9216, 2048, False)], 0x1234)
    disk = tmp_path / "ours.img"
    disk.write_bytes(sector + bytes((9216 + 2048) * 512))
    dump = subprocess.run(["sfdisk", "--dump", str(disk)], capture_output=True, text=True, check=True).stdout
    assert "start=        8192, size=        1024, type=c, bootable" in dump
    assert "start=        9216, size=        2048, type=83" in dump
