"""The service state's document and verdict (`firmware.service_state`), its atomic writer, and `box health`
reading a torn, foreign or hostile state file (fuzz/service_state.py fuzzes the same reader)."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.cli.main import main as cli_main
from roamline.firmware.errors import PeerError
from roamline.firmware.service_state import (
    Firmware,
    Link,
    Peripheral,
    ServiceState,
    assess,
    decode,
    encode,
    slot_of,
)
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


# --- the reader against hostile and torn documents ------------------------------------------------------

finite = st.floats(-1e12, 1e12, allow_nan=False, allow_infinity=False)
texts = st.text(max_size=24)  # any characters: control characters and newlines included
states = st.builds(
    ServiceState, phase=st.sampled_from(["starting", "running", "stopped"]), pid=st.integers(1, 2**31),
    boot_id=texts, box_id=texts, started_at=finite, heartbeat_s=st.floats(0.01, 300), beat_monotonic=finite,
    beat_at=finite, firmware=st.builds(Firmware, package=texts, slot=st.none() | st.sampled_from("ab"),
                                       version=st.none() | texts),
    link=st.builds(Link, up=st.booleans(), since=finite, reason=texts),
    peripherals=st.dictionaries(texts, st.builds(Peripheral, ok=st.booleans(), detail=texts, since=finite,
                                                 required=st.booleans()), max_size=4))


@settings(max_examples=50, deadline=None)  # each example decodes every prefix of its document
@given(states, st.floats(0, 2000), st.booleans())
def test_any_state_round_trips_and_is_judged_in_one_printable_line(s: ServiceState, age: float,
                                                                  alive: bool) -> None:
    data = encode(s)
    assert decode(data) == s
    for n in range(len(data) - 1):  # torn anywhere before its final newline: refused, never a state
        with pytest.raises(PeerError):
            decode(data[:n])
    v = assess(s, boot_id=s.boot_id, monotonic=s.beat_monotonic + age, pid_alive=alive)
    assert v.reason and v.reason.isprintable()
    if v.healthy:
        assert alive and s.phase == "running" and s.link.up and age <= 3 * s.heartbeat_s + 1


@pytest.mark.parametrize("doc", [
    b'{"pid": 1, "heartbeat_s": 1, "beat_monotonic": NaN}',  # NaN: never stale, since NaN > x is false
    b'{"pid": 1, "heartbeat_s": Infinity}',  # never stale either
    b'{"pid": 1, "heartbeat_s": 1e9}',  # box.toml allows at most 300 s
    b'{"pid": 1, "heartbeat_s": 1, "link": {"since": -Infinity}}',
])
def test_numbers_json_cannot_write_back_or_that_would_never_go_stale_are_refused(doc: bytes) -> None:
    # NaN and Infinity are not JSON: msgspec's decoder refuses them as such, a huge heartbeat by its range
    with pytest.raises(PeerError, match=r"^malformed service state \((heartbeat_s|beat_monotonic|link"
                                        r"|document: JSON is malformed)"):
        decode(doc)


def test_control_characters_in_a_document_stay_escaped_on_one_line() -> None:
    with pytest.raises(PeerError) as exc:
        decode(b'{"pid": 1, "heartbeat_s": 1, "x\\ny\\u0007": 1}')
    assert str(exc.value) == "malformed service state (x\\ny\\x07: unknown field)"
    s = running().with_peripheral("line\nfake", False, "ModemError: no OK\r\nhealthy", 100.0)
    assert verdict(s) == (False, "line\\nfake ModemError: no OK\\r\\nhealthy")


def health_config(tmp_path: Path) -> Path:
    state = tmp_path / "state.json"
    (tmp_path / "box.toml").write_text(f'name = "t"\ndata_dir = "data"\n[state]\nfile = "{state}"\n'
                                       'heartbeat_s = 1.0\n')
    return tmp_path / "box.toml"


def test_box_health_reads_a_torn_or_hostile_state_file_as_a_one_line_failure(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = health_config(tmp_path)
    good = msgspec.structs.replace(running(pid=os.getpid(), boot_id="", beat_monotonic=time.monotonic()),
                                   heartbeat_s=300.0)
    data = encode(good)
    cases = [data[:n] for n in range(0, len(data) - 1, 7)] + [
        b"\xff\xfe{", b"[" * 5000, data.replace(b'"line"', b'"li\\nne"').replace(b'"modem answering"',
                                                                                     b'"gone\\nok"')]
    cases[-1] = cases[-1].replace(b'"ok":true', b'"ok":false')
    for doc in cases:
        (tmp_path / "state.json").write_bytes(doc)
        capsys.readouterr()
        rc = cli_main(["box", "health", "--config", str(config), "--source", "service", "--timeout", "0.01"])
        out, err = capsys.readouterr()
        assert rc == 1, doc
        assert len(err.strip().splitlines()) == 1 and "not healthy (box service): " in err
        assert json.loads(out.strip().splitlines()[-1])["healthy"] is False
    assert "li\\nne gone\\nok" in err  # the last: decoded, judged, its reason escaped onto one line
    (tmp_path / "state.json").write_bytes(data)
    assert cli_main(["box", "health", "--config", str(config), "--source", "service", "--timeout", "1"]) == 0
