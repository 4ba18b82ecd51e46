"""LocationService: fixes and fingerprints in; the registration snapshot, PIDF-LO and link messages out."""

from __future__ import annotations

from roamline.firmware.location import pidf
from roamline.firmware.location.fix import Fix, Quality
from roamline.firmware.location.service import LocationService
from roamline.wire.clock import ManualClock
from roamline.wire.location import check_snapshot
from roamline.wire.messages import LocationConfirmed, LocationUnconfirmed

HOME = {"civic": {"country": "US", "A1": "IL", "A3": "Springfield", "RD": "Elm Street", "HNO": "12"},
        "method": "installer"}


def gps(clock: ManualClock, lat: float, error_m: float = 5.0, quality: Quality = Quality.GPS) -> Fix:
    return Fix(at=clock.monotonic(), mode=3, quality=quality, lat=lat, lon=-89.65, error_m=error_m)


def test_snapshot_carries_address_fresh_fix_and_fingerprint_and_loses_gps_when_stale() -> None:
    clock = ManualClock()
    svc = LocationService([HOME], clock=clock)
    svc.on_network(peer_address="198.51.100.7:40000", gateway="192.168.1.1")
    svc.on_fix(gps(clock, 39.78))
    snap = svc.snapshot()
    assert snap == check_snapshot(snap)  # well-formed for the registry
    assert snap["geo"]["lat"] == 39.78 and snap["geo"]["at"] == clock.wall()
    assert snap["network"] == {"public": "198.51.100.7", "gateway": "192.168.1.1"}
    clock.advance(30)  # GPS lost: no fresh fix
    assert svc.snapshot()["geo"] is None
    assert pidf.check_gml(svc.pidf_lo("pres:b@box.roamline.invalid")) == ["civic"]


def test_invalid_fixes_never_reach_the_snapshot_or_the_detector() -> None:
    clock = ManualClock()
    svc = LocationService([HOME], clock=clock, threshold_m=100)
    svc.on_fix(gps(clock, 39.78))
    for _ in range(5):
        assert svc.on_fix(gps(clock, 40.5, quality=Quality.ESTIMATED)) == []
    assert svc.snapshot()["geo"]["lat"] == 39.78 and svc.detector.confirmed


def test_move_then_confirm_produces_the_two_link_messages() -> None:
    clock = ManualClock()
    svc = LocationService([HOME], clock=clock, threshold_m=100)
    svc.on_fix(gps(clock, 39.78))
    msgs = []
    for _ in range(3):
        clock.advance(1)
        msgs += svc.on_fix(gps(clock, 39.80))
    [m] = msgs
    assert isinstance(m, LocationUnconfirmed) and m.location["state"] == "unconfirmed"
    assert m.distance_m is not None and 2000 < m.distance_m < 2400
    [say] = svc.offhook("card-7")
    assert "12 Elm Street" in say.text
    _, out = svc.key("1")
    assert out == [LocationConfirmed(at=clock.wall(), by="card-7", address=0, civic=HOME["civic"])]
    assert svc.snapshot()["state"] == "confirmed"
    assert pidf.check_gml(svc.pidf_lo("pres:b@box.roamline.invalid")) == ["civic", "circle"]


def test_a_box_without_a_recorded_address_has_no_snapshot() -> None:
    svc = LocationService([], clock=ManualClock())
    assert svc.snapshot() is None and svc.pidf_lo("pres:x@y") is None and svc.offhook() == []
