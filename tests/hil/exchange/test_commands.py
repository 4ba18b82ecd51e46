"""The control socket, rig files and the `roamline hil exchange ...` commands."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from roamline.hil.exchange import rig
from roamline.hil.exchange.control import ControlServer, request
from roamline.hil.exchange.testing import Dte
from roamline.wire.config import ConfigError

RIG = """
[exchange]
time_scale = 20
[[exchange.lines]]
number = "5551000"
modem = "usr5637"
cid_timing = "before"
[[exchange.phones]]
number = "5552000"
name = "ALICE"
answer_after = 3
"""


def test_rig_file_and_line_specs(tmp_path: Path) -> None:
    f = tmp_path / "rig.toml"
    f.write_text(RIG)
    spec = rig.load(f)
    assert spec.lines[0].modem == "usr5637" and spec.phones[0].answer_after == 3
    f.write_text(RIG.replace('"usr5637"', '"hayes"'))
    with pytest.raises(ConfigError, match="modem"):
        rig.load(f)
    lines = rig.parse_lines("5551000:cx93001,5551001:mt9234mu:none:busy")
    assert [ln.disconnect for ln in lines] == ["loop_drop", "busy"]
    assert rig.parse_phones("5552000:BOB")[0].name == "BOB"


def test_control_socket_places_a_call_and_hangs_up(tmp_path: Path) -> None:
    f = tmp_path / "rig.toml"
    f.write_text(RIG.replace("[exchange]", f'[exchange]\ndevice_dir = "{tmp_path}"'))
    runner = rig.build(rig.load(f))
    control = ControlServer(runner, tmp_path / "c.sock")
    with runner:
        control.open()
        try:
            dte = Dte(runner.device("5551000"))
            dte.cmd("ATE0")
            dte.cmd("AT+VCID=1")
            reply = request(control.path, {"op": "call", "to": "5551000", "from": "5552000", "name": "BOB"})
            assert reply["ok"] and reply["call"] == 1
            text = dte.read_until(b"RING\r\n").decode()
            assert "NMBR = 5552000\r\nNAME = BOB" in text
            assert request(control.path, {"op": "status"})["calls"][0]["state"] == "ringing"
            assert request(control.path, {"op": "hangup", "number": "5552000"})["ok"]
            bad = request(control.path, {"op": "fly"})
            assert not bad["ok"] and "unknown op" in bad["error"]
            dte.close()
        finally:
            control.close()
    assert not (tmp_path / "c.sock").exists()


def test_run_command_prints_devices_then_serves(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "roamline.cli.main", "hil", "exchange", "run", "--lines",
           "5551000:mt9234mu", "--device-dir", str(tmp_path), "--time-scale", "10", "--for", "20"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=Path(__file__).parents[3])
    try:
        items = []
        assert proc.stdout is not None
        while not items or not items[-1].get("ready"):
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            items.append(json.loads(line))
        device = items[0]["device"]
        assert items[0]["modem"] == "mt9234mu" and Path(device).exists()
        dte = Dte(device)
        assert "MT9234MU" in dte.cmd("ATI3")
        dte.close()
        out = subprocess.run([sys.executable, "-m", "roamline.cli.main", "hil", "exchange", "call", "--to",
                              "5551000", "--control", items[-1]["control"]], capture_output=True, text=True,
                             check=False, cwd=Path(__file__).parents[3])
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout.splitlines()[-1])["ok"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    time.sleep(0.05)
    assert not Path(device).exists()
