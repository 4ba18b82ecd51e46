"""Registrations per second: one registry process, load-generator processes simulating many boxes.

DESIGN §8a: each registration is nonce round trip + card signature + chain and signature checks + one
durable commit (SQLite WAL, synchronous=NORMAL). The registry is the real `roamline cloud serve` on a
fresh data directory; the load comes from ``roamline.hil.bench.regload`` processes.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from roamline.hil.bench.regfleet import make_fleet, save_fleet
from roamline.hil.proc import ProcessFailed
from roamline.hil.rig import AccountSpec, RigSpec
from roamline.hil.rigrun import RigRunner

log = logging.getLogger(__name__)

ACCOUNT = "bench"


@dataclass(frozen=True, slots=True)
class LoadPlan:
    boxes: int = 100
    cards_per_box: int = 8
    procs: int = 1
    inflight: int = 1
    warmup_s: float = 2.0
    seconds: float = 10.0


def _cpu_s(pid: int) -> float:
    """User+system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def _readline(stream: IO[str], what: str) -> dict[str, Any]:
    line = stream.readline()
    if not line:
        raise ProcessFailed(f"{what} exited before answering")
    return dict(json.loads(line))


def measure_throughput(workdir: Path, plan: LoadPlan) -> dict[str, Any]:
    spec = RigSpec(name="bench-register", accounts=(AccountSpec(name=ACCOUNT, numbers=("+15550100000",)),))
    rig = RigRunner(spec, workdir, log_level="warning")
    workers: list[subprocess.Popen[str]] = []
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        rig.start_cloud()
        t = time.monotonic()
        fleet = make_fleet(rig.cloud_dir, ACCOUNT, plan.boxes, plan.cards_per_box)
        fleet_file = workdir / "fleet.json"
        save_fleet(fleet, fleet_file)
        print(f"bench register: {plan.boxes} boxes, {plan.boxes * plan.cards_per_box} cards certified "
              f"in {time.monotonic() - t:.1f}s; registry on port {rig.port}", file=sys.stderr)
        per = -(-plan.boxes // plan.procs)
        for p in range(plan.procs):
            first, last = p * per, min(plan.boxes, (p + 1) * per)
            if first >= last:
                break
            spec_file = workdir / f"load-{p}.json"
            spec_file.write_text(json.dumps({
                "fleet": str(fleet_file), "first": first, "last": last, "ca": str(rig.cloud_dir / "ca.pem"),
                "server_name": "registry.roamline", "host": "127.0.0.1", "port": rig.port,
                "inflight": plan.inflight}))
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "roamline.hil.bench.regload", str(spec_file)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1))
        connections = sum(int(_readline(w.stdout, "load generator")["ready"]) for w in workers if w.stdout)
        print(f"bench register: {connections} boxes said hello; warm-up {plan.warmup_s}s, "
              f"measuring {plan.seconds}s", file=sys.stderr)
        start = time.time() + plan.warmup_s
        end = start + plan.seconds
        for w in workers:
            assert w.stdin is not None
            w.stdin.write(json.dumps({"start": start, "end": end}) + "\n")
            w.stdin.flush()
        reg_pid = rig.registry.pid if rig.registry is not None else None
        time.sleep(max(0.0, start - time.time()))
        cpu0 = _cpu_s(reg_pid) if reg_pid else 0.0
        load0 = sum(_cpu_s(w.pid) for w in workers)
        time.sleep(max(0.0, end - time.time()))
        cpu1 = _cpu_s(reg_pid) if reg_pid else 0.0
        load1 = sum(_cpu_s(w.pid) for w in workers)
        results = [_readline(w.stdout, "load generator") for w in workers if w.stdout]
        for w in workers:
            w.wait(timeout=30)
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
        rig.stop_registry()
    ok = sum(int(r["ok_in_window"]) for r in results)
    lat = [x for r in results for x in r["latencies_ms"]]
    refused: Counter[str] = Counter()
    for r in results:
        refused.update(r["refused"])
    return {
        "registrations_per_s": round(ok / plan.seconds, 1),
        "registrations": ok,
        "registrations_total": sum(int(r["ok_total"]) for r in results),
        "refused": dict(refused),
        "connections": connections,
        "load_processes": len(workers),
        "inflight_per_box": plan.inflight,
        "cards": plan.boxes * plan.cards_per_box,
        "duration_s": plan.seconds,
        "warmup_s": plan.warmup_s,
        "registration_latency_p50_ms": round(percentile(lat, 0.5), 2),
        "registration_latency_p99_ms": round(percentile(lat, 0.99), 2),
        "registry_cpu_share": round((cpu1 - cpu0) / plan.seconds, 2),
        "load_cpu_share": round((load1 - load0) / plan.seconds, 2),
        # contention-independent: registry CPU spent per counted registration (1000/this = its ceiling/s)
        "registry_cpu_ms_per_registration": round((cpu1 - cpu0) * 1000 / ok, 3) if ok else 0.0,
    }
