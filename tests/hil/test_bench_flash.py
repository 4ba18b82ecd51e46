"""`roamline bench flash` in a tiny configuration (the figures themselves are not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.timeout(120)
@pytest.mark.parametrize("target", ["file", "loop"])
def test_bench_flash_tiny(target: str) -> None:
    done = subprocess.run([sys.executable, "-m", "roamline.cli.main", "bench", "flash", "--json", "--mb", "8",
                           "--rounds", "2", "--target", target], capture_output=True, text=True, timeout=110,
                          check=False)
    if target == "loop" and "loop targets need root" in done.stderr:
        pytest.skip("no loop devices here")
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for key in ("flash_mb_per_s", "dd_mb_per_s", "verify_mb_per_s", "flash_to_dd"):
        assert result[key] > 0, key
    assert (result["target"], result["image_mb"], result["rounds"]) == (target, 8, 2)
    assert [len(v) for v in result["samples"].values()] == [2, 2, 2]
    assert "round 2: ours" in done.stderr
