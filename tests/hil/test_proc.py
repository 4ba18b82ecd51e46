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


def test_marks_count_every_line_even_past_what_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    import roamline.hil.proc as proc

    monkeypatch.setattr(proc, "KEEP_LINES", 5)
    code = ("import sys,time\n"
            "for i in range(12): print(f'line {i}', flush=True)\n"
            "time.sleep(0.5)\n"
            "print('line last', flush=True); time.sleep(60)")
    p = ManagedProcess("counter", [sys.executable, "-c", code], ready=r"line 11")
    p.start()
    try:
        assert len(p.output()) <= 5 and p.output()[-1] == "line 11"
        mark = p.mark()
        assert mark == 12  # not the 5 kept
        assert p.wait_for(r"line \w+", after=mark, timeout=10).group(0) == "line last"
        assert p.wait_for(r"line 9", after=9).group(0) == "line 9"  # still kept: found
        with pytest.raises(ProcessFailed):
            p.wait_for(r"line 3", after=0, timeout=0.2)  # dropped long ago
    finally:
        p.stop()
