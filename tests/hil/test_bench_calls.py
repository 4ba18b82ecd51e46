"""`roamline bench calls` in a tiny configuration: real registry process, load-generator process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.timeout(90)
def test_bench_calls_tiny(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "roamline.cli.main", "bench", "calls", "--json", "--calls", "2",
         "--warmup", "0.3", "--seconds", "1.5", "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=80, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["calls"] == 2
    for key in ("relay_cpu_pct", "relay_cpu_pct_per_call", "relay_cpu_us_per_datagram",
                "datagrams_relayed_per_s", "projected_cpu_pct_per_call"):
        assert result[key] > 0, key
    # what arrived is the media that was sent: content checked by sequence number, in order
    assert result["bad"] == 0 and result["out_of_order"] == 0
    assert "registry: {\"stopped\": true" in done.stderr  # the registry stopped cleanly and said so


def test_bench_calls_refuses_nonsense() -> None:
    done = subprocess.run([sys.executable, "-m", "roamline.cli.main", "bench", "calls", "--calls", "0"],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode != 0 and "--calls" in done.stderr and len(done.stderr.strip().splitlines()) == 1
