"""gpsd's JSON reports: TPV (the first one may lack lat), SKY satellites, statuses, damage."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.firmware.location.fix import Quality, judge
from roamline.firmware.location.gpsd import GpsdDecoder
from roamline.firmware.location.tracker import Tracker


def line(obj: dict) -> bytes:
    return json.dumps(obj).encode() + b"\n"


STREAM = b"".join([
    line({"class": "VERSION", "release": "3.22", "proto_major": 3, "proto_minor": 14}),
    line({"class": "DEVICES", "devices": [{"class": "DEVICE", "path": "/dev/pts/3"}]}),
    line({"class": "WATCH", "enable": True, "json": True}),
    line({"class": "TPV", "device": "/dev/pts/3", "mode": 1}),  # first TPV: a mode, no position
    line({"class": "SKY", "device": "/dev/pts/3", "satellites": [{"PRN": 5, "used": True},
                                                                 {"PRN": 13, "used": True},
                                                                 {"PRN": 29, "used": False}]}),
    line({"class": "TPV", "device": "/dev/pts/3", "mode": 3, "lat": 39.7817, "lon": -89.6501, "altHAE": 148.5,
          "eph": 6.2}),
])


def test_stream_byte_by_byte_first_tpv_without_lat_then_a_valid_fix() -> None:
    d, t = GpsdDecoder(), Tracker()
    fixes = []
    for i in range(len(STREAM)):
        fixes += d.feed(STREAM[i:i + 1], 10.0)
    assert len(fixes) == 2 and fixes[0].lat is None and fixes[0].mode == 1
    assert not judge(fixes[0], 10.0).valid
    for f in fixes:
        t.observe(f, 10.0)
    s = t.summary()
    assert s.valid and s.lat == 39.7817 and s.satellites == 2 and s.error_m == 6.2 and s.mode == 3
    assert d.devices == ["/dev/pts/3"]


def test_statuses_dead_reckoning_and_simulated_are_not_fixes() -> None:
    for status, quality in ((5, Quality.ESTIMATED), (6, Quality.ESTIMATED), (8, Quality.SIMULATED),
                            (2, Quality.DGPS)):
        [fix] = GpsdDecoder().feed(line({"class": "TPV", "mode": 3, "status": status, "lat": 1.0, "lon": 2.0,
                                         "eph": 5.0}), 0.0)
        assert fix.quality is quality
        assert judge(fix, 0.0).valid == (quality is Quality.DGPS)


def test_error_from_epx_epy_when_no_eph_and_usat_from_sky() -> None:
    d = GpsdDecoder()
    d.feed(line({"class": "SKY", "uSat": 11, "nSat": 20}), 0.0)
    [fix] = d.feed(line({"class": "TPV", "mode": 2, "lat": 1.0, "lon": 2.0, "epx": 3.0, "epy": 4.0}), 0.0)
    assert fix.error_m == 5.0 and fix.satellites == 11


def test_garbage_lines_are_counted_and_an_overlong_line_is_dropped() -> None:
    d = GpsdDecoder(max_line=1024)
    out = d.feed(b"not json\n[1,2]\n{\"no\": \"class\"}\n" + b"x" * 5000 + b"\n" +
                 line({"class": "TPV", "mode": 3, "lat": 1.5, "lon": 2.0, "eph": 5.0}), 0.0)
    assert d.counters.malformed == 3 and d.counters.overlong == 1 and len(out) == 1


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=30))
def test_any_bytes_are_survived_and_bounded(chunks: list[bytes]) -> None:
    d = GpsdDecoder(max_line=1024)
    for c in chunks:
        d.feed(c, 0.0)
        assert len(d._buf) <= 1024
