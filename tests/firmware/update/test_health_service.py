"""`roamline box health` next to a real `roamline box run` process (a registry on loopback): it reads the
service's published state instead of opening a second link with the box's identity, so the service's
link stays up; it fails with the reason when the link is down, the service hangs or is gone; and as an
update bundle's health command it rolls back a slot whose service is not healthy."""

from __future__ import annotations

import json
import logging
import os
import shlex
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from roamline.cli.main import main as cli_main
from roamline.cloud.store import Box
from roamline.firmware.service_state import ServiceState, decode
from roamline.hil.proc import ManagedProcess
from roamline.hil.rigrun import ROAMLINE
from roamline.wire import identity

from ...provisioning.enroll.registrar_support import Registrar

HEARTBEAT_S = 0.5


@pytest.fixture
def registrar(tmp_path: Path) -> Iterator[Registrar]:
    r = Registrar(tmp_path)
    r.start()
    yield r
    r.stop()


def enroll(r: Registrar, root: Path) -> tuple[Path, str]:
    key = identity.generate_key()
    box_id = identity.box_id_for_key(key.public_key())
    cert = identity.certificate_pem(r.ca.issue(role=identity.Role.BOX, subject_id=box_id,
                                               public_key=key.public_key(), now=time.time())).decode()
    r.call(r.store.put_box, Box(box_id=box_id, cert_pem=cert, name="t", board="sim", location=None,
                                line_number=None, owner=None, revoked=False, created=time.time()))
    (root / "box.key").write_bytes(identity.private_key_pem(key))
    (root / "box.pem").write_text(cert)
    config = {
        "name": "t", "board": "sim", "data_dir": "data",
        "registry": {"host": "127.0.0.1", "port": r.server.port, "ca": str(r.ca_path)},
        "identity": {"cert": "box.pem", "key": "box.key"},
        "card": {"backend": "none"}, "line": {"backend": "none"}, "handset": {"backend": "none"},
        "link": {"request_timeout_s": 1.0, "backoff_initial_s": 0.2, "backoff_max_s": 1.0},
        "state": {"heartbeat_s": HEARTBEAT_S},
    }
    (root / "box.toml").write_text(tomli_w.dumps(config))
    return root / "box.toml", box_id


def box_service(config: Path, slot: str | None = None, ready: str = r'"state": "ready"') -> ManagedProcess:
    env = {"ROAMLINE_SLOT": slot} if slot else {}
    return ManagedProcess("box", [*ROAMLINE, "box", "run", "--config", str(config)], env=env, ready=ready)


def published(config: Path) -> ServiceState:
    return decode((config.parent / "data" / "service-state.json").read_bytes())


def health(capsys: Any, config: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    capsys.readouterr()
    rc = cli_main(["box", "health", "--config", str(config), "--timeout", "3", *extra])
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    return rc, json.loads(lines[-1]) if lines else {}, err


def wait_until(check: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


class Hellos(logging.Handler):
    """The registry's box-hello records (on its own logger: `cli_main` resets the root's handlers)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.boxes: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "box-hello":
            self.boxes.append(getattr(record, "fields", {}).get("box", ""))


@pytest.fixture
def hellos() -> Iterator[Hellos]:
    logger, handler = logging.getLogger("roamline.cloud.registry"), Hellos()
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_health_reads_the_running_service_and_leaves_its_link_alone(
        registrar: Registrar, tmp_path: Path, capsys: Any, hellos: Hellos) -> None:
    config, box_id = enroll(registrar, tmp_path)
    box = box_service(config)
    box.start(timeout=60)
    try:
        since = published(config).link.since
        for _ in range(3):
            t0 = time.perf_counter()
            rc, out, err = health(capsys, config)
            with capsys.disabled():
                print(f"\nbox health from the service state: {time.perf_counter() - t0:.3f} s")
            assert rc == 0, err
            assert out["healthy"] is True and out["source"] == "service"
            assert out["link"].startswith("up") and out["pid"] == box.pid
        assert hellos.boxes == [box_id]  # the registry saw one connection from the box: nothing replaced it
        state = published(config)
        assert state.link.up and state.link.since == since  # the service's link never went down
        assert not any("link-down" in line for line in box.output())
        # --source probe is the old behaviour: its own link, which replaces the service's at the registry
        rc, out, err = health(capsys, config, "--source", "probe")
        assert rc == 0 and out["source"] == "probe", err
        assert hellos.boxes[:2] == [box_id, box_id]  # (this check can see a replacement happen)

        registrar.stop()  # the registry goes away: the service's link is down, and health says so
        wait_until(lambda: not published(config).link.up)
        rc, out, err = health(capsys, config)
        assert rc == 1 and out["source"] == "service" and out["link"].startswith("down")
        assert "not healthy (box service): link down" in err
    finally:
        box.stop()
    rc, out, err = health(capsys, config, "--source", "service")  # stopped cleanly: no service runs
    assert rc == 1 and "the box service has stopped" in err
    assert published(config).phase == "stopped"


def test_a_hung_or_dead_service_is_a_failure_with_its_reason(registrar: Registrar, tmp_path: Path,
                                                             capsys: Any) -> None:
    config, _ = enroll(registrar, tmp_path)
    box = box_service(config)
    box.start(timeout=60)
    pid = box.pid
    assert pid is not None
    try:
        assert health(capsys, config)[0] == 0
        os.kill(pid, signal.SIGSTOP)  # hung: the process is there, its heartbeat stops
        time.sleep(4 * HEARTBEAT_S + 1.5)
        rc, out, err = health(capsys, config)
        assert rc == 1 and "the service state is stale (last heartbeat" in err
        os.kill(pid, signal.SIGCONT)
        wait_until(lambda: health(capsys, config)[0] == 0)
        os.kill(pid, signal.SIGKILL)  # crashed: the last state stays, its pid is gone
        wait_until(lambda: not box.running())
        rc, out, err = health(capsys, config)
        assert rc == 1 and out["source"] == "service"
        assert f"the box service is gone (pid {pid} not running" in err
        (config.parent / "data" / "service-state.json").write_text('{"format": 1, "pid": "x"')
        rc, out, err = health(capsys, config)
        assert rc == 1 and "malformed service state" in err
    finally:
        box.stop()


def test_an_update_whose_service_is_unhealthy_is_rolled_back(registrar: Registrar, tmp_path: Path,
                                                             capsys: Any) -> None:
    """The bundles name `box health --source service`: 2.0's service comes up linked in its slot and is
    kept; while the old service still runs, 3.0's check refuses it (another slot's service); 4.0's
    service runs but cannot reach the registry, and is rolled back."""
    config, _ = enroll(registrar, tmp_path)
    ops, state = tmp_path / "ops", tmp_path / "state"
    ops.mkdir()
    state.mkdir()
    assert cli_main(["provision", "update", "keygen", "--out", str(ops)]) == 0
    (state / "operator.pem").write_bytes((ops / "operator.pem").read_bytes())
    check = shlex.join([sys.executable, "-m", "roamline.cli.main", "box", "health", "--config", str(config),
                        "--source", "service", "--timeout", "5"])

    def ship(version: str) -> str:
        app = tmp_path / f"app-{version}"
        app.mkdir()
        (app / "VERSION").write_text(version)
        bundle = tmp_path / f"{version}.rlu"
        assert cli_main(["provision", "update", "build", "--payload", str(app), "--version", version,
                         "--key", str(ops / "operator.key"), "--health", check, "--out", str(bundle)]) == 0
        assert cli_main(["box", "update", "apply", str(bundle), "--state", str(state)]) == 0
        capsys.readouterr()
        assert cli_main(["box", "update", "boot", "--state", str(state)]) == 0
        booted: str = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["booted"]
        return booted

    def update_health() -> tuple[int, str]:
        capsys.readouterr()
        rc = cli_main(["box", "update", "health", "--state", str(state), "--timeout", "60"])
        return rc, capsys.readouterr().err

    def booted_now() -> tuple[str, str]:
        capsys.readouterr()
        assert cli_main(["box", "update", "boot", "--state", str(state)]) == 0
        b = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        return b["booted"], b["version"]

    cli_main(["box", "update", "boot", "--state", str(state)])
    slot2 = ship("2.0")
    box = box_service(config, slot2)
    box.start(timeout=60)
    try:
        assert update_health() == (0, "")
        slot3 = ship("3.0")
        assert slot3 != slot2
        rc, err = update_health()  # the service that runs is 2.0's (slot2), not the trial slot's
        assert rc == 1 and f"the box service runs slot {slot2}, not slot {slot3}" in err
        assert booted_now() == (slot2, "2.0")
        slot4 = ship("4.0")
        box.stop()
        registrar.stop()
        box = box_service(config, slot4, ready=r'"state": "running"')  # it never links up
        box.start(timeout=60)
        rc, err = update_health()
        assert rc == 1 and "link down" in err
        assert booted_now() == (slot2, "2.0")  # rolled back to the healthy 2.0
    finally:
        box.stop()
