"""`roamline box diag callerid FILE.wav --json` decodes what the handset would be sent."""

from __future__ import annotations

import json
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np

from roamline.firmware.audio import callerid_plan as plan
from roamline.firmware.callerid import codec as cm


def test_diag_callerid_prints_the_decoded_message(tmp_path: Path) -> None:
    msg = cm.CallerId(when=cm.Stamp(5, 6, 7, 8), number_absent=cm.Absence.PRIVATE, name="ACME")
    steps = plan.plan_call(plan.profile("uk"), msg)
    x = np.round(plan.render_all(steps, rate=16000) * 32767).astype("<i2")
    path = tmp_path / "uk.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(x.tobytes())
    done = subprocess.run([sys.executable, "-m", "roamline.cli.main", "box", "diag", "callerid", str(path),
                           "--modem", "v23", "--json"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["rejected"] == []
    (m,) = out["messages"]
    assert m["kind"] == "CallerId" and m["number_absent"] == "P" and m["name"] == "ACME"
    assert m["when"] == {"month": 5, "day": 6, "hour": 7, "minute": 8}
