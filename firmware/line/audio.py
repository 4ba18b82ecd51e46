"""Voice energy on 8 kHz samples in the modem's format: enough to tell voice from silence."""

from __future__ import annotations

from array import array


def _ulaw(b: int) -> int:
    b = ~b & 0xFF
    mag = (((b & 0x0F) << 3) + 0x84) << ((b & 0x70) >> 4)
    return abs(mag - 0x84)


def _alaw(b: int) -> int:
    b ^= 0x55
    seg = (b & 0x70) >> 4
    mag = ((b & 0x0F) << 4) + 8
    return mag if seg == 0 else (mag + 0x100) << (seg - 1)


# |sample| scaled to 16-bit for each 8-bit encoding
ABS16: dict[str, tuple[int, ...]] = {
    "ulaw": tuple(_ulaw(b) for b in range(256)),
    "alaw": tuple(_alaw(b) for b in range(256)),
    "u8": tuple(abs(b - 128) << 8 for b in range(256)),
    "s8": tuple(abs(b - 256 if b > 127 else b) << 8 for b in range(256)),
}


def mean_abs(data: bytes, encoding: str) -> float:
    """Mean absolute sample value on a 16-bit scale (0 for no data)."""
    if not data:
        return 0.0
    if encoding == "s16le":
        samples = array("h", data[: len(data) & ~1])
        return sum(abs(s) for s in samples) / max(1, len(samples))
    table = ABS16[encoding]
    return sum(table[b] for b in data) / len(data)


def samples_in(data: bytes, encoding: str) -> int:
    return len(data) // 2 if encoding == "s16le" else len(data)
