"""`roamline bench e911` in its smallest form: one 911 call through the real rig (registry process with an
SMTP relay, box process, exchange simulator, aiosmtpd and a webhook receiver in the bench process)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.timeout(150)
def test_bench_e911_one_call() -> None:
    argv = [sys.executable, "-m", "roamline.cli.main", "bench", "e911", "--json", "--runs", "1",
            "--cpc-hold", "0"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=140, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["runs"] == 1
    # measured, not made up: both are positive times, the notification after the dial
    assert 0 < result["last_digit_to_dial_ms"] < 5000 and 0 < result["notify_ms"] < 10000
    assert "cpc_hold_s" not in result  # --cpc-hold 0 skips the line-busy run


def test_bench_e911_refuses_nonsense() -> None:
    done = subprocess.run([sys.executable, "-m", "roamline.cli.main", "bench", "e911", "--runs", "0"],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2 and "--runs" in done.stderr and len(done.stderr.strip().splitlines()) == 1
