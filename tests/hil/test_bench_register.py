"""`roamline bench register` in a tiny configuration: real registry, load processes, box, pcscd, card."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from roamline.hil.bench.regthroughput import percentile


@pytest.mark.timeout(90)
def test_bench_register_tiny(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "roamline.cli.main", "bench", "register", "--json", "--boxes", "2",
         "--cards-per-box", "2", "--warmup", "0.3", "--seconds", "1", "--inserts", "2",
         "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=80, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for key in ("registrations_per_s", "registrations", "connections", "duration_s",
                "insert_to_routable_p50_ms", "insert_to_routable_p99_ms", "insert_samples"):
        assert result[key] > 0, key
    assert result["connections"] == 2 and result["insert_samples"] == 2
    assert result["registrations"] <= result["registrations_total"]
    assert result["insert_to_routable_p50_ms"] <= result["insert_to_routable_p99_ms"]
    assert result["refused"] == {}


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.5) == 0.0
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([float(i) for i in range(100)], 0.99) == 98.0
    assert percentile([1.0, 2.0], 1.0) == 2.0
