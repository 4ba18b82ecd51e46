"""Event fields with a fixed set of values are types mypy checks, and keep the strings they always carried."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from mypy import api

from roamline.firmware.line import events as ev
from roamline.firmware.line.calls import CallState

REPO = Path(__file__).resolve().parents[3]


def test_the_values_are_the_strings_events_always_carried() -> None:
    changed = ev.StateChanged(CallState.HANGING_UP)
    assert changed == ev.StateChanged("hanging-up")  # type: ignore[arg-type]
    assert changed.state == "hanging-up" and f"{changed.state}" == "hanging-up"
    assert json.dumps({"state": changed.state}) == '{"state": "hanging-up"}'


def test_mypy_refuses_a_value_outside_the_set(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(textwrap.dedent("""
        from roamline.firmware.line import events as ev
        from roamline.firmware.line.at import ModemCore
        from roamline.firmware.line.calls import CallState
        from roamline.firmware.callerid.codec import CallerId

        ev.OpDone("identify", True, "OK")
        ev.OpDone("dail", False)
        ev.OpDone("dial", False, "BUSSY")
        ev.StateChanged("connected")
        ev.StateChanged(CallState.CONNECTED)
        ev.FarEndHangup("silence")
        ev.CallerIdReceived(CallerId(), source="vcid")
        ModemCore().voice = "full"
    """))
    out, _err, status = api.run(["--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"),
                                 "--config-file", str(REPO / "pyproject.toml"), str(probe)])
    assert status == 1
    bad_lines = sorted({int(line.split(":")[1]) for line in out.splitlines() if ": error:" in line})
    assert bad_lines == [8, 9, 10, 12, 13, 14], out
