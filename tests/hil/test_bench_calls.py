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
         "--warmup", "0.3", "--seconds", "1.5", "--setup-samples", "0", "--m2e-calls", "0",
         "--workdir", str(tmp_path)],
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


@pytest.mark.timeout(240)
def test_bench_calls_setup_through_real_boxes_and_mouth_to_ear(tmp_path: Path) -> None:
    """The setup figures come from real box processes (a PSTN call rings the holder's handset at the
    other box); mouth to ear from one jittered call through the firmware's receive path."""
    done = subprocess.run(
        [sys.executable, "-m", "roamline.cli.main", "bench", "calls", "--json", "--calls", "2",
         "--warmup", "0.5", "--seconds", "2", "--setup-samples", "2", "--m2e-calls", "1",
         "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=230, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["setup_samples"] == 2
    assert 0 < result["setup_p50_ms"] <= result["setup_p99_ms"] <= result["setup_max_ms"]
    assert result["m2e_flows"] == 2 and result["m2e_frames"] > 0
    parts = result["m2e_parts_ms"]
    assert parts["packetisation"] == 20.0 and parts["network"] > 0 and parts["jitter_buffer"] > 0
    assert result["mouth_to_ear_added_ms"] > 0 and 0 <= result["late_loss_pct"] <= 100
    assert result["bad"] == 0  # jittered and reordered, but every datagram is the one that was sent
    assert "relay_cpu_pct_per_call" in result


def test_bench_calls_refuses_nonsense() -> None:
    done = subprocess.run([sys.executable, "-m", "roamline.cli.main", "bench", "calls", "--calls", "0"],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode != 0 and "--calls" in done.stderr and len(done.stderr.strip().splitlines()) == 1
