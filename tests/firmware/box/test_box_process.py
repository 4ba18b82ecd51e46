"""Whole-box tests through a real ``roamline box run`` process: the exchange simulator's modem on a pty
(backend "serial"), the handset simulator attached through its control socket (backend "sim"), no card
reader and no cloud (the registry address answers nothing)."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from roamline.hil.handset_control import HandsetClient
from roamline.hil.proc import ManagedProcess
from roamline.hil.rigrun import ROAMLINE
from roamline.wire import identity


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def exchange_request(path: Path, req: dict[str, Any]) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(path))
        s.sendall(json.dumps(req).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    reply: dict[str, Any] = json.loads(buf)
    assert reply.get("ok"), reply
    return reply


def box_bundle(tmp: Path, *, line_device: str, profile: str) -> Path:
    """A box whose registry is nowhere: identity and CA exist, nothing listens on the port."""
    now = time.time()
    ca = identity.CertificateAuthority.create(now=now)
    key = identity.generate_key()
    box_id = identity.box_id_for_key(key.public_key())
    cert = ca.issue(role=identity.Role.BOX, subject_id=box_id, public_key=key.public_key(), now=now)
    (tmp / "box.key").write_bytes(identity.private_key_pem(key))
    (tmp / "box.pem").write_bytes(identity.certificate_pem(cert))
    (tmp / "ca.pem").write_bytes(ca.cert_pem)
    config = {
        "name": "lifeline",
        "board": "sim",
        "country": "US",
        "data_dir": "data",
        "registry": {"host": "127.0.0.1", "port": free_udp_port(), "ca": "ca.pem"},
        "identity": {"cert": "box.pem", "key": "box.key"},
        "card": {"backend": "none"},
        "line": {"backend": "serial", "device": line_device, "profile": profile, "number": "2175551000"},
        "handset": {"backend": "sim", "options": {"control": str(tmp / "handset.sock")}},
        "link": {"request_timeout_s": 1.0, "backoff_initial_s": 0.2, "backoff_max_s": 1.0},
    }
    path = tmp / "box.toml"
    path.write_text(tomli_w.dumps(config))
    return path


@pytest.fixture
def exchange(tmp_path: Path) -> Any:
    ex = ManagedProcess(
        "exchange",
        [
            *ROAMLINE,
            "hil",
            "exchange",
            "run",
            "--lines",
            "2175551000:cx93001",
            "--phones",
            "911:PSAP",
            "--device-dir",
            str(tmp_path / "ex"),
        ],
        ready=r"modem-2175551000",
    )
    ex.start()
    yield tmp_path / "ex"
    ex.stop()


def test_911_with_no_card_and_no_cloud_goes_out_the_boxs_own_line_at_once(
    tmp_path: Path, exchange: Path
) -> None:
    config = box_bundle(tmp_path, line_device=str(exchange / "modem-2175551000"), profile="cx93001")
    box = ManagedProcess(
        "box",
        [*ROAMLINE, "--log-level", "info", "box", "run", "--config", str(config)],
        ready=r'"state": "running"',
    )
    m = box.start()
    try:
        assert m is not None
        line = next(x for x in box.output() if '"state": "running"' in x)
        running = json.loads(line[line.index("{") :])
        assert running["line"] is True and running["handset"] is True and running["cards"] is False
        phone = HandsetClient(tmp_path / "handset.sock")
        phone.wait_ready()
        phone.lift()
        phone.key_dtmf("911")
        keyed = time.monotonic()
        box.wait_for(r" emergency\.dialled .*number=911", timeout=10)
        deadline = time.monotonic() + 10
        calls: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            calls = exchange_request(exchange / "control.sock", {"op": "status"})["calls"]
            if any(c["caller"] == "2175551000" and c["callee"] == "911" for c in calls):
                break
            time.sleep(0.05)
        seen = time.monotonic() - keyed
        assert any(c["caller"] == "2175551000" and c["callee"] == "911" for c in calls), calls
        # no inter-digit wait (4 s here): the exchange saw the dial well before a timeout could expire
        assert seen < 3.0
        phone.hang_up()
    finally:
        box.stop()
