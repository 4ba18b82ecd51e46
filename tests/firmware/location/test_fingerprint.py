from __future__ import annotations

import pytest

from roamline.firmware.location.errors import PeerError
from roamline.firmware.location.fingerprint import Fingerprint, default_gateway, host_of

ROUTE = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
wlan0\t00000000\t0100000A\t0003\t0\t0\t600\t00000000\t0\t0\t0
eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0
"""


def test_default_gateway_is_the_lowest_metric_default_route() -> None:
    assert default_gateway(ROUTE) == "192.168.1.1"
    assert default_gateway(ROUTE.replace("\t100\t00000000", "\t900\t00000000", 1)) == "10.0.0.1"


def test_no_default_route_and_bad_text() -> None:
    assert default_gateway(ROUTE.splitlines()[0] + "\n" + ROUTE.splitlines()[3]) is None
    with pytest.raises(PeerError):
        default_gateway("garbage")
    with pytest.raises(PeerError):
        default_gateway(ROUTE.replace("0101A8C0", "zz01A8C0"))


def test_host_of_peer_addresses() -> None:
    assert host_of("203.0.113.5:4433") == "203.0.113.5"
    assert host_of("[2001:db8::1]:4433") == "2001:db8::1"
    assert host_of("") is None
    with pytest.raises(PeerError):
        host_of("example.com:1")


def test_differs_only_on_parts_known_on_both_sides() -> None:
    a = Fingerprint("203.0.113.5", "192.168.1.1")
    assert a.differs(Fingerprint("203.0.113.5", None)) == []
    assert a.differs(Fingerprint("198.51.100.1", "192.168.1.1")) == ["public"]
    assert a.differs(Fingerprint("198.51.100.1", "10.0.0.1")) == ["public", "gateway"]
