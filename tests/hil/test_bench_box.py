"""`roamline bench box` in a short run: the whole box process on the simulated rig (registry, exchange,
line, attached handset, virtual card behind pcscd); the plumbing, not the figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.timeout(180)
def test_bench_box_short(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "roamline.cli.main", "bench", "box", "--json", "--idle-seconds", "1",
         "--settle", "0", "--workdir", str(tmp_path / "rig")],
        capture_output=True, text=True, timeout=170, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # every configured peripheral was open when the box said it was ready (and its link was up)
    assert result["peripherals"] == {"line": True, "handset": True, "cards": True}
    assert 0 < result["running_s"] <= result["ready_s"] <= result["registered_s"]
    assert result["rss_mb"] > 10 and result["rss_peak_mb"] >= result["rss_mb"]
    assert result["rss_anon_mb"] > 0 and result["rss_file_mb"] > 0  # VmRSS = anon + file + shmem
    assert result["rss_anon_mb"] + result["rss_file_mb"] <= result["rss_mb"] + 0.2
    assert result["idle_cpu_pct"] >= 0 and result["idle_window_s"] >= 1.0
    assert result["threads"] > 1
    # the whole running box (line, handset, card, link up) has not loaded pydantic (issue 9); the
    # check sees real loads (msgspec and numpy are there)
    assert result["mapped"] == {"pydantic_core": False, "msgspec": True, "numpy": True}


def test_bench_box_refuses_nonsense() -> None:
    done = subprocess.run([sys.executable, "-m", "roamline.cli.main", "bench", "box", "--idle-seconds", "0"],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2 and "--idle-seconds" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
