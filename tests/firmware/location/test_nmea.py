"""The NMEA decoder against realistic logs (fed byte by byte) and against whatever a serial line can do."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.firmware.location.fix import Quality, judge
from roamline.firmware.location.nmea import MAX_LINE, NmeaDecoder
from roamline.firmware.location.tracker import Tracker

from .conftest import DATA, LOGS, sentence


def feed_bytewise(data: bytes, decoder: NmeaDecoder | None = None) -> tuple[list, NmeaDecoder]:
    d = decoder or NmeaDecoder()
    fixes = []
    for i in range(len(data)):
        fixes += d.feed(data[i:i + 1], 100.0)
    return fixes, d


def summary_of(data: bytes) -> dict:
    fixes, d = feed_bytewise(data)
    t = Tracker()
    for f in fixes:
        t.observe(f, 100.0)
    return {**t.summary().as_dict(), **d.counters.as_dict()}


def test_multi_gnss_log_gives_a_valid_3d_fix_with_gst_error_and_skips_proprietary() -> None:
    s = summary_of((DATA / "ublox-multignss.nmea").read_bytes())
    assert s["valid"] and s["mode"] == 3 and s["satellites"] == 9
    assert s["lat"] == pytest.approx(39.781727, abs=1e-6) and s["lon"] == pytest.approx(-89.650157, abs=1e-6)
    assert s["error_m"] == pytest.approx(2.1, abs=0.05)  # GST σlat 1.7, σlon 1.3 → 2.14 m
    assert s["proprietary"] == 8 and s["bad_checksum"] == 0 and s["malformed"] == 0


def test_cold_start_is_rejected_until_the_first_2d_fix_then_uses_hdop() -> None:
    data = (DATA / "cold-start.nmea").read_bytes()
    cut = data.index(b"$GPRMC")  # the first sentence of the first fixed epoch
    early = summary_of(data[:cut])
    assert not early["valid"] and early["lat"] is None and "void" in early["reason"]
    s = summary_of(data)
    assert s["valid"] and s["mode"] == 2 and s["satellites"] == 4
    assert s["error_m"] == pytest.approx(2.4 * 5.0)  # no GST: HDOP × 5 m


def test_dead_reckoning_is_not_a_fix_and_the_last_valid_one_is_kept() -> None:
    s = summary_of((DATA / "dead-reckoning.nmea").read_bytes())
    assert not s["valid"] and "estimated" in s["reason"]
    assert s["lat"] == pytest.approx(39.78172, abs=1e-6)  # the DR positions (+0.001°) never became the fix


def test_noisy_serial_capture_counts_damage_and_still_finds_the_fix() -> None:
    s = summary_of((DATA / "noisy-serial.nmea").read_bytes())
    assert s["valid"] and s["lat"] == pytest.approx(51.50135, abs=1e-6)
    assert s["bad_checksum"] >= 3 and s["malformed"] >= 5 and s["overlong"] == 1


@pytest.mark.parametrize("log", LOGS, ids=lambda p: p.name)
def test_any_chunking_gives_the_same_fixes(log) -> None:
    data = log.read_bytes()
    whole = NmeaDecoder().feed(data, 5.0)
    bytewise, _ = feed_bytewise(data)
    assert [(f.lat, f.lon, f.mode, f.quality) for f in bytewise] == [(f.lat, f.lon, f.mode, f.quality)
                                                                      for f in whole]
    assert whole  # every log has position sentences


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_splitting_a_log_anywhere_changes_nothing(data: st.DataObject) -> None:
    raw = (DATA / "noisy-serial.nmea").read_bytes()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=40)))
    d = NmeaDecoder()
    got = []
    for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True):
        got += d.feed(raw[a:b], 1.0)
    ref = NmeaDecoder()
    assert [(f.lat, f.lon, f.quality) for f in got] == [(f.lat, f.lon, f.quality) for f in ref.feed(raw, 1.0)]
    assert d.counters == ref.counters


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_are_survived_and_the_buffer_stays_bounded(blob: bytes) -> None:
    d = NmeaDecoder()
    for i in range(0, len(blob), 7):
        d.feed(blob[i:i + 7], 0.0)
        assert len(d._buf) <= MAX_LINE


@settings(max_examples=150, deadline=None)
@given(lat=st.floats(-89.99, 89.99), lon=st.floats(-179.99, 179.99), talker=st.sampled_from(
    ["GP", "GN", "GL", "GA", "BD", "GB"]), qual=st.sampled_from([1, 2, 4, 6, 7, 8]))
def test_a_gga_of_any_talker_decodes_to_its_position_and_quality(lat: float, lon: float, talker: str,
                                                                 qual: int) -> None:
    la, lo = abs(lat), abs(lon)
    pos = (f"{int(la):02d}{(la - int(la)) * 60:09.6f},{'N' if lat >= 0 else 'S'},"
           f"{int(lo):03d}{(lo - int(lo)) * 60:09.6f},{'E' if lon >= 0 else 'W'}")
    [fix] = NmeaDecoder().feed(sentence(f"{talker}GGA,120000.00,{pos},{qual},07,1.1,10.0,M,0.0,M,,"), 3.0)
    assert fix.lat == pytest.approx(lat, abs=1e-6) and fix.lon == pytest.approx(lon, abs=1e-6)
    assert fix.source.endswith(talker) and fix.satellites == 7
    expected = {1: Quality.GPS, 2: Quality.DGPS, 4: Quality.RTK, 6: Quality.ESTIMATED, 7: Quality.MANUAL,
                8: Quality.SIMULATED}[qual]
    assert fix.quality is expected
    ok = judge(fix, 3.0).valid
    assert ok == (qual in (1, 2, 4) and not (fix.lat == 0.0 and fix.lon == 0.0))  # 0,0: a receiver default


def test_a_sentence_cut_by_a_new_dollar_is_dropped_and_the_new_one_read() -> None:
    good = sentence("GNGGA,120000.00,4807.03800,N,01131.00000,E,1,08,0.9,545.4,M,46.9,M,,")
    d = NmeaDecoder()
    fixes = d.feed(b"$GNRMC,120000.00,A,48" + good, 1.0)
    assert len(fixes) == 1 and fixes[0].lat == pytest.approx(48.1173)
    assert d.counters.malformed == 1


def test_wrong_checksum_and_missing_checksum_are_refused() -> None:
    good = sentence("GPGGA,120000.00,4807.03800,N,01131.00000,E,1,08,0.9,545.4,M,46.9,M,,")
    d = NmeaDecoder()
    assert d.feed(good[:-4] + b"00\r\n", 1.0) == []
    assert d.feed(good[:-5] + b"\r\n", 1.0) == []
    assert d.counters.bad_checksum == 2
    assert len(d.feed(good, 1.0)) == 1


def test_rmc_void_makes_the_following_gga_invalid_too() -> None:
    d = NmeaDecoder()
    d.feed(sentence("GNRMC,120000.00,V,4807.03800,N,01131.00000,E,,,011226,,,N"), 1.0)
    [fix] = d.feed(sentence("GNGGA,120000.00,4807.03800,N,01131.00000,E,1,08,0.9,545.4,M,46.9,M,,"), 1.0)
    assert fix.status_void and judge(fix, 1.0).reason.startswith("receiver status void")
