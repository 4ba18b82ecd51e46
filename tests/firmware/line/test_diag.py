"""`roamline box diag modem` end to end: against the exchange simulator and against a scripted modem
whose particulars differ (echo on, numeric result codes, caller ID after the first ring)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from roamline.cli.main import main
from roamline.hil.exchange.runner import ExchangeRunner
from roamline.hil.line_peer import PtyPeer, ScriptedModem


def _last_json(out: str) -> dict[str, object]:
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize(("modem", "bridge"), [("usr5637", False), ("cx93001", True), ("mt9234mu", True)])
def test_diag_against_exchange(modem: str, bridge: bool, capsys: pytest.CaptureFixture[str]) -> None:
    with ExchangeRunner(time_scale=10.0) as ex:
        ex.add_line("5551000", modem, cid_timing="between")
        phone = ex.add_phone("5552000", name="RING DATE")
        threading.Timer(0.5, lambda: phone.dial("5551000")).start()
        rc = main(["box", "diag", "modem", "--device", ex.device("5551000"), "--wait-ring", "10", "--json"])
    out = _last_json(capsys.readouterr().out)
    assert rc == 0
    assert (out["profile"], out["voice"], out["can_bridge"]) == (modem, True, bridge)
    cid = out["caller_id"]
    assert isinstance(cid, dict) and (cid["number"], cid["name"]) == ("5552000", "RING DATE")
    assert cid["date"] and cid["time"]
    assert isinstance(out["rings"], int) and out["rings"] >= 1


def test_diag_on_a_modem_with_other_habits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # numeric RING, then caller ID after it, as soon as the diagnostic's initialisation is done
    call = b"2\r\r\nNMBR=P\r\nDATE=0101\r\nTIME=0000\r\n\r\nRING\r\n"
    modem = ScriptedModem({"ATI0": "MT9234MU", "AT+FCLASS=?": "0,1,2,8"}, echo=True, numeric=True,
                          after={"AT+VIT=0": call})
    peer = PtyPeer(modem, tmp_path / "ttyACM0").start()
    try:
        dev = str(tmp_path / "ttyACM0")
        rc = main(["box", "diag", "modem", "--device", dev, "--wait-ring", "5", "--json"])
    finally:
        peer.stop()
    out = _last_json(capsys.readouterr().out)
    assert rc == 0 and out["profile"] == "mt9234mu"
    assert out["caller_id"] == {"number": None, "name": None, "date": "0101", "time": "0000"}
    assert out["caller_id_status"] == {"number": "private", "name": "absent"}


def test_diag_unknown_modem_without_voice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    peer = PtyPeer(ScriptedModem({"ATI3": "Hayes Accura", "AT+FCLASS=?": "0,1,2"}), tmp_path / "m").start()
    try:
        rc = main(["box", "diag", "modem", "--device", str(tmp_path / "m"), "--json"])
    finally:
        peer.stop()
    out = _last_json(capsys.readouterr().out)
    assert rc == 1 and out["profile"] is None and out["voice"] is False and out["rings"] is None


def test_diag_missing_device_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["box", "diag", "modem", "--device", str(tmp_path / "nothing"), "--json"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "argument --device" in err[0] and "no such device" in err[0]
