"""G.711 against the values of ITU-T G.711 itself (Tables 1/2 and the digital milliwatt, Tables 5/6).

Expected numbers are written here from the standard, not computed by the module under test. The
linear scale of the tables is 13-bit (A-law) and 14-bit (µ-law); int16 samples carry them ×8 and ×4.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from roamline.firmware.audio import g711

# (first decision value, step) of the 8 positive segments, and the overload point.
ALAW_SEGMENTS = [(0, 2), (32, 2), (64, 4), (128, 8), (256, 16), (512, 32), (1024, 64), (2048, 128)]
ALAW_TOP = 4096
# µ-law: decision values 0,1,3,5,…,31 | 31..95 step 4 | … | 4063..8159 step 256.
ULAW_SEGMENTS = [(1, 2), (31, 4), (95, 8), (223, 16), (479, 32), (991, 64), (2015, 128), (4063, 256)]
ULAW_TOP = 8159


def alaw_decision_values() -> list[int]:
    xs = [start + i * step for start, step in ALAW_SEGMENTS for i in range(16)]
    return [*xs, ALAW_TOP]  # x_0 .. x_128


def ulaw_decision_values() -> list[int]:
    # x_0 = 0 bounds the first interval (output 0); then 15 more steps of 2 in segment 0.
    xs = [0] + [1 + 2 * i for i in range(15)]
    xs += [start + i * step for start, step in ULAW_SEGMENTS[1:] for i in range(16)]
    return [*xs, ULAW_TOP]


def alaw_char(n: int, positive: bool) -> int:
    """Table 1: character = sign (1 positive) + 7-bit interval number, even bits then inverted."""
    return ((0x80 if positive else 0) | n) ^ 0x55


def ulaw_char(n: int, positive: bool) -> int:
    """Table 2: character = sign (1 positive) + the interval number with its 7 bits inverted."""
    return (0x80 if positive else 0) | (n ^ 0x7F)


def test_decision_value_lists_have_128_intervals() -> None:
    assert len(alaw_decision_values()) == 129
    assert len(ulaw_decision_values()) == 129
    assert ulaw_decision_values()[16] == 31 and ulaw_decision_values()[127] == 7903


@pytest.mark.parametrize("positive", [True, False])
def test_alaw_every_interval_encodes_to_its_character(positive: bool) -> None:
    xs = alaw_decision_values()
    for n in range(128):
        lo, hi = xs[n], xs[n + 1]
        mags = np.array([lo, (lo + hi) // 2, hi - 1])
        # 13-bit value v is int16 v*8 .. v*8+7; negatives are quantised on the one's complement.
        samples = mags * 8 + 3 if positive else -(mags * 8 + 3) - 1
        codes = g711.alaw_encode(samples.astype(np.int16))
        assert set(codes.tolist()) == {alaw_char(n, positive)}, (n, lo, hi)


@pytest.mark.parametrize("positive", [True, False])
def test_ulaw_every_interval_encodes_to_its_character(positive: bool) -> None:
    xs = ulaw_decision_values()
    for n in range(128):
        lo, hi = xs[n], xs[n + 1]
        mags = np.array(sorted({lo, (lo + hi) // 2, hi - 1}))
        samples = mags * 4 + 1 if positive else -(mags * 4 + 1) - 1
        codes = g711.ulaw_encode(samples.astype(np.int16))
        assert set(codes.tolist()) == {ulaw_char(n, positive)}, (n, lo, hi)


def test_decoder_outputs_are_interval_midpoints() -> None:
    xs = alaw_decision_values()
    for n in range(128):
        mid = (xs[n] + xs[n + 1]) // 2
        assert g711.alaw_decode(bytes([alaw_char(n, True)]))[0] == mid * 8
        assert g711.alaw_decode(bytes([alaw_char(n, False)]))[0] == -mid * 8
    xs = ulaw_decision_values()
    for n in range(1, 128):
        mid = (xs[n] + xs[n + 1]) // 2
        assert g711.ulaw_decode(bytes([ulaw_char(n, True)]))[0] == mid * 4
        assert g711.ulaw_decode(bytes([ulaw_char(n, False)]))[0] == -mid * 4


def test_named_values_from_the_tables() -> None:
    # A-law: smallest and largest outputs 1 and 4032 (13-bit); µ-law 0 and 8031 (14-bit).
    assert g711.alaw_decode(bytes([0xD5, 0x55, 0xAA, 0x2A])).tolist() == [8, -8, 4032 * 8, -4032 * 8]
    assert g711.ulaw_decode(bytes([0xFF, 0x7F, 0x80, 0x00])).tolist() == [0, 0, 8031 * 4, -8031 * 4]
    # Both µ-law zero characters decode to 0; encoding gives 0xFF for +0 and 0x7F for the smallest negative.
    assert g711.ulaw_encode(np.array([0, 1, 3, -1, -4], dtype=np.int16)).tolist() == [0xFF] * 3 + [0x7F] * 2


def test_even_bit_inversion_of_alaw() -> None:
    # Interval 0 positive is 1000 0000 before inversion → 1101 0101 on the line.
    assert g711.alaw_encode(np.array([0], dtype=np.int16))[0] == 0b1101_0101
    # Interval 127 positive 1111 1111 → 1010 1010; negative 0111 1111 → 0010 1010.
    assert g711.alaw_encode(np.array([32767, -32768], dtype=np.int16)).tolist() == [0b1010_1010, 0b0010_1010]


def test_overload_clips_to_the_top_interval() -> None:
    big = np.array([ULAW_TOP * 4, 32767, -ULAW_TOP * 4 - 1, -32768], dtype=np.int16)
    assert g711.ulaw_encode(big).tolist() == [0x80, 0x80, 0x00, 0x00]
    assert g711.alaw_encode(np.array([4095 * 8, -4095 * 8 - 1], dtype=np.int16)).tolist() == [0xAA, 0x2A]


@pytest.mark.parametrize(
    ("law", "chars"),
    [
        ("ulaw", [0x1E, 0x0B, 0x0B, 0x1E, 0x9E, 0x8B, 0x8B, 0x9E]),  # G.711 Table 5
        ("alaw", [0x34, 0x21, 0x21, 0x34, 0xB4, 0xA1, 0xA1, 0xB4]),  # G.711 Table 6
    ],
)
def test_digital_milliwatt_is_a_0_dbm0_1khz_sine(law: str, chars: list[int]) -> None:
    x = g711.decode(law, bytes(chars * 100)).astype(float)
    spectrum = np.abs(np.fft.rfft(x))
    assert np.argmax(spectrum) * 8000 / len(x) == pytest.approx(1000)
    level_db = 20 * np.log10(np.sqrt(np.mean(x**2)) / g711.DBM0_RMS)
    assert abs(level_db) < 0.15
    # and re-encoding the decoded values gives the same characters back
    assert g711.encode(law, g711.decode(law, bytes(chars))) == bytes(chars)


def test_all_characters_round_trip() -> None:
    codes = np.arange(256, dtype=np.uint8)
    # every µ-law character except negative zero (0x7F, which re-encodes as +0 0xFF) is a fixed point
    back = g711.ulaw_encode(g711.ulaw_decode(codes))
    assert [c for c in range(256) if back[c] != c] == [0x7F]
    assert g711.alaw_encode(g711.alaw_decode(codes)).tolist() == list(range(256))


@given(st.lists(st.integers(-32768, 32767), min_size=1, max_size=200))
def test_matches_a_reference_quantiser_built_from_the_tables(values: list[int]) -> None:
    x = np.array(values, dtype=np.int64)
    ones = np.where(x < 0, -x - 1, x)
    for law, unit, xs, char in (
        ("alaw", 8, alaw_decision_values(), alaw_char),
        ("ulaw", 4, ulaw_decision_values(), ulaw_char),
    ):
        mag = ones // unit
        n = np.minimum(np.searchsorted(np.array(xs), mag, side="right") - 1, 127)
        expected = [char(int(k), bool(v >= 0)) for k, v in zip(n, x, strict=True)]
        assert g711.encode(law, x.astype(np.int16)) == bytes(expected)


def test_rejects_wrong_dtypes() -> None:
    with pytest.raises(TypeError):
        g711.ulaw_encode(np.zeros(3, dtype=np.float32))
    with pytest.raises(TypeError):
        g711.alaw_decode(np.zeros(3, dtype=np.int16))
    with pytest.raises(ValueError, match="unknown"):
        g711.encode("g722", np.zeros(1, dtype=np.int16))


@given(st.binary(max_size=300))
def test_decoding_bytes_whole_or_one_at_a_time_agrees(data: bytes) -> None:
    for law in ("ulaw", "alaw"):
        whole = g711.decode(law, data)
        single = [int(g711.decode(law, data[i : i + 1])[0]) for i in range(len(data))]
        assert whole.tolist() == single
