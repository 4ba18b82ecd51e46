from __future__ import annotations

import sys

import pytest

from roamline.hil.proc import ManagedProcess, ProcessFailed


def test_ready_line_and_stop() -> None:
    code = "import time,sys; print('listening on port 4242', flush=True); time.sleep(60)"
    p = ManagedProcess("sleeper", [sys.executable, "-c", code], ready=r"port (\d+)")
    m = p.start()
    assert m is not None and m.group(1) == "4242"
    assert p.running()
    p.stop()
    p.stop()  # idempotent
    assert not p.running()


def test_early_exit_reports_output() -> None:
    p = ManagedProcess("broken", [sys.executable, "-c", "print('bad config'); raise SystemExit(3)"],
                       ready="never")
    with pytest.raises(ProcessFailed, match="exited with 3: bad config"):
        p.start()
    p.stop()
