"""`roamline box diag gps` and `roamline box diag location` end to end: NMEA logs replayed, a real gpsd fed
by gpsfake, an NMEA receiver on a pty, and the PIDF-LO of a configured box."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from roamline.cli.main import main
from roamline.firmware.location import pidf

from .conftest import DATA


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


KEYS = {"valid", "lat", "lon", "error_m", "mode", "satellites", "reason"}


@pytest.mark.parametrize(("log", "valid", "reason"), [
    ("ublox-multignss.nmea", True, ""), ("cold-start.nmea", True, ""),
    ("dead-reckoning.nmea", False, "estimated (dead-reckoning) fix"), ("noisy-serial.nmea", True, "")])
def test_diag_gps_replays_a_log(log: str, valid: bool, reason: str, capsys: pytest.CaptureFixture[str],
                                ) -> None:
    rc = main(["box", "diag", "gps", "--nmea", str(DATA / log), "--json"])
    out = last_json(capsys.readouterr().out)
    assert set(out) >= KEYS and out["valid"] is valid and out["reason"] == reason
    assert rc == (0 if valid else 1)
    assert out["lat"] is not None  # every log had a valid fix at some point


def test_diag_gps_without_a_source_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["box", "diag", "gps", "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1


def test_diag_gps_against_nothing_listening_fails_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_tcp_port()
    assert main(["box", "diag", "gps", "--gpsd", f"127.0.0.1:{port}", "--json"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot reach gpsd" in err[0]


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def gpsfake() -> Iterator[object]:
    if shutil.which("gpsfake") is None:
        pytest.skip("gpsfake not installed (scripts/bootstrap.sh installs gpsd-clients)")
    procs: list[subprocess.Popen[bytes]] = []

    def start(log: Path) -> int:
        port = free_tcp_port()
        p = subprocess.Popen(["gpsfake", "-q", "-c", "0.05", "-P", str(port), str(log)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        procs.append(p)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return port
            time.sleep(0.05)
        raise AssertionError("gpsfake's gpsd did not listen")

    yield start
    for p in procs:
        os.killpg(p.pid, 15)
        p.wait(timeout=10)


def test_diag_gps_reads_a_real_gpsd_fed_by_gpsfake(gpsfake, capsys: pytest.CaptureFixture[str]) -> None:
    port = gpsfake(DATA / "ublox-multignss.nmea")
    rc = main(["box", "diag", "gps", "--gpsd", f"127.0.0.1:{port}", "--timeout", "20", "--json"])
    out = last_json(capsys.readouterr().out)
    assert rc == 0 and out["valid"] and out["mode"] in (2, 3)  # gpsd may say 2D before it trusts altitude
    assert out["lat"] == pytest.approx(39.7817, abs=1e-3) and out["lon"] == pytest.approx(-89.6502, abs=1e-3)
    assert out["error_m"] is not None and 0 < out["error_m"] < 100


def test_diag_gps_through_gpsd_rejects_dead_reckoning(gpsfake, capsys: pytest.CaptureFixture[str]) -> None:
    # only the dead-reckoning epochs: gpsd passes GGA quality 6 on as TPV status 5/6, never a fix
    data = (DATA / "dead-reckoning.nmea").read_bytes()
    lines = data.splitlines(keepends=True)
    dr = b"".join(lines[len(lines) // 2:])
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"dr-{os.getpid()}.nmea"
    log.write_bytes(dr)
    try:
        port = gpsfake(log)
        rc = main(["box", "diag", "gps", "--gpsd", f"127.0.0.1:{port}", "--timeout", "4", "--json"])
    finally:
        log.unlink()
    out = last_json(capsys.readouterr().out)
    assert rc == 1 and not out["valid"] and out["lat"] is None and out["reason"]


def test_diag_gps_reads_a_serial_receiver_on_a_pty(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    master, slave = os.openpty()
    link = tmp_path / "ttyGPS0"
    link.symlink_to(os.ttyname(slave))
    data = (DATA / "noisy-serial.nmea").read_bytes()
    stop = threading.Event()

    def receiver() -> None:  # a receiver at 9600 baud: about 1 kB/s, in small bursts, repeating
        while not stop.is_set():
            for i in range(0, len(data), 64):
                if stop.is_set():
                    return
                os.write(master, data[i:i + 64])
                time.sleep(0.005)

    t = threading.Thread(target=receiver, daemon=True)
    t.start()
    try:
        rc = main(["box", "diag", "gps", "--device", str(link), "--timeout", "10", "--json"])
    finally:
        stop.set()
        t.join(timeout=5)
        os.close(master)
        os.close(slave)
    out = last_json(capsys.readouterr().out)
    assert rc == 0 and out["valid"] and out["lat"] == pytest.approx(51.50135, abs=1e-6)


BOX_TOML = """
name = "box-b"
board = "sim"
[location]
moved_threshold_m = 150
[[location.addresses]]
method = "installer"
civic = { country = "US", A1 = "IL", A3 = "Springfield", RD = "Elm Street", HNO = "12", FLR = "2" }
[[location.addresses]]
method = "operator"
civic = { country = "US", A1 = "IL", A3 = "Springfield", RD = "Oak Avenue", HNO = "400" }
"""


def test_diag_location_prints_the_record_and_a_valid_pidf_lo(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "box.toml"
    cfg.write_text(BOX_TOML)
    rc = main(["box", "diag", "location", "--config", str(cfg), "--nmea", str(DATA / "ublox-multignss.nmea"),
               "--json"])
    out = last_json(capsys.readouterr().out)
    assert rc == 0 and out["pidf_valid"] and out["pidf_problem"] == ""
    loc = out["location"]
    assert loc["civic"]["RD"] == "Elm Street" and loc["state"] == "confirmed" and loc["method"] == "installer"
    assert loc["geo"]["lat"] == pytest.approx(39.781727, abs=1e-6) and loc["geo"]["mode"] == 3
    document = out["pidf_lo"].encode()
    pidf.validate(document)  # independently of the command's own verdict
    assert pidf.check_gml(document) == ["civic", "circle"]


def test_diag_location_without_gps_still_has_the_civic_address(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "box.toml"
    cfg.write_text(BOX_TOML)
    assert main(["box", "diag", "location", "--config", str(cfg), "--no-gps", "--json"]) == 0
    out = last_json(capsys.readouterr().out)
    assert out["location"]["geo"] is None and pidf.check_gml(out["pidf_lo"].encode()) == ["civic"]


def test_diag_location_refuses_no_address_or_a_po_box(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "box.toml"
    cfg.write_text('name = "box-c"\n')
    assert main(["box", "diag", "location", "--config", str(cfg), "--no-gps"]) == 2
    assert "no recorded address" in capsys.readouterr().err
    cfg.write_text(BOX_TOML.replace('HNO = "12"', 'HNO = "12", POBOX = "5"'))
    assert main(["box", "diag", "location", "--config", str(cfg), "--no-gps"]) != 0
    assert "P.O. box" in capsys.readouterr().err


def test_follow_gps_feeds_the_service_from_gpsfake_and_reports_a_move(gpsfake) -> None:
    import asyncio

    from roamline.board.profile import Gps
    from roamline.firmware.location.fix import Fix, Quality
    from roamline.firmware.location.follow import follow_gps
    from roamline.firmware.location.service import LocationService
    from roamline.wire.clock import SystemClock
    from roamline.wire.messages import LocationUnconfirmed

    port = gpsfake(DATA / "ublox-multignss.nmea")
    home = {"civic": {"country": "US", "A1": "IL", "A3": "Springfield", "RD": "Elm Street", "HNO": "12"}}
    svc = LocationService([home], clock=SystemClock(), threshold_m=100)
    assert svc.detector is not None  # the address was confirmed 5 km north of where the receiver is now
    svc.detector.reference = Fix(at=0.0, mode=3, quality=Quality.GPS, lat=39.83, lon=-89.65, error_m=5.0)
    sent: list = []

    async def body() -> None:
        got = asyncio.Event()

        async def send(msg) -> None:
            sent.append(msg)
            got.set()

        task = asyncio.create_task(follow_gps(Gps(gpsd=f"127.0.0.1:{port}"), svc, send))
        try:
            async with asyncio.timeout(20):
                await got.wait()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    asyncio.run(body())
    [msg] = sent
    assert isinstance(msg, LocationUnconfirmed) and 5000 < (msg.distance_m or 0) < 6000
    snap = svc.snapshot()
    assert snap is not None and snap["state"] == "unconfirmed"
    assert snap["geo"]["lat"] == pytest.approx(39.7817, abs=1e-3)
