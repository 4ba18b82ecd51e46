"""The service state's document and verdict (`firmware.service_state`), and its atomic writer."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from roamline.firmware.errors import PeerError
from roamline.firmware.service_state import Firmware, ServiceState, assess, decode, encode, slot_of
from roamline.firmware.state_file import StatePublisher, write_atomic

BOOT = "6a1f0c1e-boot"


def running(**kw: object) -> ServiceState:
    s = ServiceState(pid=4242, boot_id=BOOT, heartbeat_s=2.0, phase="running",
                     firmware=Firmware(package="0.1", slot="b", version="2.0"))
    s = s.with_link(True, "welcomed", 100.0).with_peripheral("line", True, "modem answering", 100.0)
    return msgspec.structs.replace(s.beat(50.0, 1000.0), **kw)


def verdict(s: ServiceState, *, now: float = 51.0, alive: bool = True, slot: str | None = None,
            boot: str = BOOT) -> tuple[bool, str]:
    v = assess(s, boot_id=boot, monotonic=now, pid_alive=alive, expected_slot=slot)
    return v.healthy, v.reason


def test_healthy_and_each_failure_has_its_reason() -> None:
    s = running()
    assert verdict(s) == (True, "healthy")
    assert verdict(s, slot="b") == (True, "healthy")
    assert verdict(s, slot="a") == (False, "the box service runs slot b, not slot a")
    unsaid = running(firmware=Firmware(package="0.1"))
    assert verdict(unsaid)[0] is True  # no slot checked: none needed
    assert "does not run from an update slot (no ROAMLINE_SLOT" in verdict(unsaid, slot="a")[1]
    stale = verdict(s, now=50.0 + 3 * 2.0 + 1.5)[1]
    assert stale.startswith("the service state is stale (last heartbeat 7.5 s")
    assert verdict(s, now=50.0 + 3 * 2.0 + 0.5)[0] is True  # within three beats (and a second)
    gone = "the box service is gone (pid 4242 not running, last heartbeat 1.0 s ago)"
    assert verdict(s, alive=False)[1] == gone
    assert verdict(s, boot="other")[1] == "the service state is from an earlier boot"
    assert verdict(s.with_phase("stopped")) == (False, "the box service has stopped")
    assert verdict(s.with_phase("starting"))[1] == "the box service is still starting"
    down = s.with_link(False, "connection lost", 120.0)
    assert verdict(down) == (False, "link down (connection lost)")
    assert down.link.since == 120.0 and down.with_link(False, "again", 130.0).link.since == 120.0
    bad_line = s.with_peripheral("line", False, "ModemError: no OK", 130.0)
    assert verdict(bad_line) == (False, "line ModemError: no OK")
    gps = s.with_peripheral("gps", False, "lost: refused", 130.0, required=False)
    assert verdict(gps) == (True, "healthy")  # GPS is reported, not required
    assert assess(gps, boot_id=BOOT, monotonic=51.0, pid_alive=True).checks["gps"] == "failed: lost: refused"


def test_a_peripheral_keeps_its_since_until_it_changes_state() -> None:
    s = running()
    assert s.with_peripheral("line", True, "modem answering", 500.0) is s
    t = s.with_peripheral("line", False, "gone", 500.0)
    assert t.peripherals["line"].since == 500.0
    assert t.with_peripheral("line", False, "still gone", 600.0).peripherals["line"].since == 500.0


def test_round_trip() -> None:
    s = running()
    assert decode(encode(s)) == s
    assert json.loads(encode(s))["link"]["up"] is True


@pytest.mark.parametrize("doc", [b"", b"{", b"[]", b'{"format": 2, "pid": 1, "heartbeat_s": 1}',
                                 b'{"format": 1, "pid": 0, "heartbeat_s": 1}',
                                 b'{"format": 1, "pid": 1, "heartbeat_s": 1, "extra": 1}'])
def test_malformed_documents_are_one_line_peer_errors(doc: bytes) -> None:
    with pytest.raises(PeerError, match=r"^malformed service state \(") as exc:
        decode(doc)
    assert "\n" not in str(exc.value)


@given(st.binary(max_size=300))
def test_any_bytes_decode_or_fail_cleanly(data: bytes) -> None:
    try:
        decode(data)
    except PeerError:
        pass


def test_every_truncation_of_a_document_fails_cleanly() -> None:
    data = encode(running())
    for n in range(len(data) - 1):  # fed short by one byte at a time: never a traceback, never a state
        with pytest.raises(PeerError):
            decode(data[:n])


def test_atomic_write_and_publisher(tmp_path: Path) -> None:
    path = tmp_path / "run" / "state.json"
    write_atomic(path, b"one")
    write_atomic(path, b"two")
    assert path.read_bytes() == b"two" and [p.name for p in path.parent.iterdir()] == ["state.json"]
    pub = StatePublisher(path)
    states = [running(pid=p) for p in range(1, 200)]
    done = threading.Event()

    def hammer() -> None:
        for s in states:
            pub.publish(s)
        done.set()

    threading.Thread(target=hammer).start()
    while not done.is_set():  # a reader never sees a partial file
        data = path.read_bytes()
        if data != b"two":
            decode(data)
    pub.close()
    assert decode(path.read_bytes()).pid == 199  # the newest is what stays
    assert 1 <= pub.writes <= len(states)
    print(f"publisher: {len(states)} states published, {pub.writes} written")


def test_an_unwritable_state_is_logged_not_raised(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    pub = StatePublisher(tmp_path / "file" / "state.json")  # its directory is a file
    pub.publish(running())
    pub.close()
    assert pub.writes == 0 and pub.last_error is not None


def test_the_slot_a_package_runs_from() -> None:
    site = "/data/update/slots/b/site/roamline/firmware/__init__.py"
    assert slot_of(site) == "b"
    assert slot_of("/opt/roamline/site/roamline/firmware/__init__.py") is None  # the factory install
    assert slot_of("/data/update/slots/c/site/roamline/__init__.py") is None
