"""ITU-T G.711 µ-law and A-law, vectorised through lookup tables.

Linear samples are int16. G.711 itself is defined on 14-bit (µ-law, ±8159) and 13-bit (A-law, ±4096)
uniform codes; a 16-bit sample carries those in its top bits (µ-law ×4, A-law ×8), as in the ITU-T
G.191 reference software. Negative samples are quantised on their one's complement (-1 → magnitude 0),
as G.191 does, which makes the quantiser exactly symmetric about -0.5.

- µ-law: biased magnitude |x|+33 (14-bit), 8 segments of 16 steps; the sign bit is 1 for positive and
  the segment/step bits are sent inverted, so positive zero is 0xFF and negative zero is 0x7F.
- A-law: 13-bit magnitude, segment 0 and 1 share step 2, then steps double; the character is sent with
  the even bits inverted (XOR 0x55).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Int16Array = npt.NDArray[np.int16]
UInt8Array = npt.NDArray[np.uint8]

_ULAW_BIAS = 33
_ULAW_CLIP = 8158  # magnitudes at or above decision value x_128 = 8159 fall in the top interval
_ALAW_CLIP = 4095


def _ulaw_encode_magnitude(mag14: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """7-bit segment/mantissa code for 14-bit magnitudes (before sign and inversion)."""
    biased = np.minimum(mag14, _ULAW_CLIP) + _ULAW_BIAS  # 33 .. 8191
    seg = np.floor(np.log2(biased)).astype(np.int64) - 5  # biased in [32·2^s, 64·2^s)
    seg = np.clip(seg, 0, 7)
    mant = (biased >> (seg + 1)) & 0x0F
    return np.asarray((seg << 4) | mant, dtype=np.int64)


def _alaw_encode_magnitude(mag13: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    mag = np.minimum(mag13, _ALAW_CLIP)
    seg = np.where(mag < 32, 0, np.floor(np.log2(np.maximum(mag, 1))).astype(np.int64) - 4)
    seg = np.clip(seg, 0, 7)
    shift = np.where(seg == 0, 1, seg)
    mant = (mag >> shift) & 0x0F
    return np.asarray((seg << 4) | mant, dtype=np.int64)


def _build_tables() -> tuple[UInt8Array, UInt8Array, Int16Array, Int16Array]:
    x = np.arange(-32768, 32768, dtype=np.int64)
    neg = x < 0
    ones = np.where(neg, ~x, x)  # one's complement magnitude for negatives (G.191)
    # µ-law: the character is 1 (positive) or 0 (negative), then the inverted segment and step bits.
    u = _ulaw_encode_magnitude(ones >> 2) | np.where(neg, 0x80, 0)
    ulaw_enc = (u ^ 0xFF).astype(np.uint8)
    # A-law: sign bit 1 = positive, then even bits inverted.
    a = _alaw_encode_magnitude(ones >> 3) | np.where(neg, 0, 0x80)
    alaw_enc = (a ^ 0x55).astype(np.uint8)

    codes = np.arange(256, dtype=np.int64)
    uc = codes ^ 0xFF
    useg, umant = (uc >> 4) & 7, uc & 0x0F
    umag = (((2 * umant + _ULAW_BIAS) << useg) - _ULAW_BIAS) * 4  # interval midpoint, 16-bit scale
    ulaw_dec = np.where(codes & 0x80, umag, -umag).astype(np.int16)
    ac = codes ^ 0x55
    aseg, amant = (ac >> 4) & 7, ac & 0x0F
    amag13 = np.where(aseg == 0, 2 * amant + 1, (2 * amant + 33) << (aseg - 1))
    alaw_dec = np.where(ac & 0x80, amag13 * 8, -amag13 * 8).astype(np.int16)
    return ulaw_enc, alaw_enc, ulaw_dec, alaw_dec


_ULAW_ENC, _ALAW_ENC, _ULAW_DEC, _ALAW_DEC = _build_tables()
for _t in (_ULAW_ENC, _ALAW_ENC, _ULAW_DEC, _ALAW_DEC):
    _t.setflags(write=False)

ULAW_SILENCE = 0xFF  # positive zero on the line
ALAW_SILENCE = 0xD5
# RMS of a 0 dBm0 sine in int16: µ-law's +3.17 dBm0 overload point is 8159 (14-bit) = 32636 (16-bit).
DBM0_RMS = 8159 * 4 * 10 ** (-3.17 / 20) / 2**0.5


def _as_index(samples: npt.ArrayLike) -> npt.NDArray[np.intp]:
    a = np.asarray(samples)
    if a.dtype != np.int16:
        raise TypeError(f"G.711 encodes int16 samples, not {a.dtype}")
    return a.astype(np.intp) + 32768


def _as_codes(data: bytes | bytearray | memoryview | npt.ArrayLike) -> npt.NDArray[np.uint8]:
    if isinstance(data, bytes | bytearray | memoryview):
        return np.frombuffer(data, dtype=np.uint8)
    a = np.asarray(data)
    if a.dtype != np.uint8:
        raise TypeError(f"G.711 decodes uint8 codes or bytes, not {a.dtype}")
    return a


def ulaw_encode(samples: npt.ArrayLike) -> UInt8Array:
    """int16 samples → µ-law characters (as sent on the line)."""
    return _ULAW_ENC[_as_index(samples)]


def alaw_encode(samples: npt.ArrayLike) -> UInt8Array:
    """int16 samples → A-law characters (as sent on the line, even bits inverted)."""
    return _ALAW_ENC[_as_index(samples)]


def ulaw_decode(codes: bytes | bytearray | memoryview | npt.ArrayLike) -> Int16Array:
    """µ-law characters → int16 samples (the interval's midpoint, ×4)."""
    return _ULAW_DEC[_as_codes(codes)]


def alaw_decode(codes: bytes | bytearray | memoryview | npt.ArrayLike) -> Int16Array:
    """A-law characters → int16 samples (the interval's midpoint, ×8)."""
    return _ALAW_DEC[_as_codes(codes)]


def encode(law: str, samples: npt.ArrayLike) -> bytes:
    """``law`` is "ulaw" (PCMU) or "alaw" (PCMA); returns the characters as bytes."""
    if law == "ulaw":
        return ulaw_encode(samples).tobytes()
    if law == "alaw":
        return alaw_encode(samples).tobytes()
    raise ValueError(f"unknown G.711 law {law!r} (ulaw or alaw)")


def decode(law: str, data: bytes | bytearray | memoryview) -> Int16Array:
    if law == "ulaw":
        return ulaw_decode(data)
    if law == "alaw":
        return alaw_decode(data)
    raise ValueError(f"unknown G.711 law {law!r} (ulaw or alaw)")
