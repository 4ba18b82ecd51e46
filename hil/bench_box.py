"""`roamline bench box --json`: the whole running box's memory, idle CPU and time to ready (issue 9).

One real ``roamline box run`` process on the simulated rig, built with the rig machinery
(``hil.rigrun.RigRunner``) and the same commands an operator types: a registry (``roamline cloud
serve``, SQLite) with one account and its card, the exchange simulator with the box's line (a cx93001
modem simulator on a pty), the box enrolled (``roamline provision box enroll``) with the ``sim`` board,
its handset the attached ``sim`` phone, its card reader a vpcd reader on the box's own real pcscd, the
holder's virtual PIV card inserted before the box starts.

- ``ready_s``: on a restart (the box was started once, made its spoken prompts and stopped, as after a
  power cut; ``first_start_ready_s`` is that first start), from starting the box process (``Popen``)
  to its ``"state": "ready"`` line (``ready_cpu_s``: the box process's CPU seconds up to then) — printed
  once the link is up (hello done) and every configured peripheral is open (line initialised, handset
  pins and audio open, card readers watched); ``running_s`` is the earlier ``"running"`` line
  (peripherals open, link not yet up), ``registered_s`` when the card in the reader was registered;
- ``idle_cpu_pct``: the box process's CPU (``/proc/PID/stat`` utime + stime, all its threads) over
  ``--idle-seconds`` (≥ 10 s) with no call and the card in, in percent of one core. The simulators
  (exchange, registry, pcscd, the virtual card's socket in this process) are other processes and are
  not counted. The simulated phone's pins and paced audio line are objects inside the box process (as a
  real SLIC and sound card are drivers in its kernel): what the box does with them is counted;
- ``rss_mb``: ``VmRSS`` of the box process at the end of the idle window (``rss_peak_mb``: ``VmHWM``;
  ``rss_anon_mb`` + ``rss_file_mb``: its anonymous and file-backed parts, ``RssAnon`` and ``RssFile``);
  ``mapped``: whether the box process has loaded ``pydantic_core``, ``msgspec`` and ``numpy`` (their
  extension modules in ``/proc/PID/maps``; issue 9: the box does not import pydantic).

Progress on stderr; the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

SUMMARY = "the whole box: RSS, idle CPU (card in, no call) and start-to-ready time on the simulated rig"

BOX = "box-a"
CARD = "alice-card"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    parser.add_argument("--json", action="store_true", help="print the result as one JSON line (default)")
    parser.add_argument("--idle-seconds", type=validate.Number(1.0, 3600.0, unit="seconds"), default=10.0,
                        help="idle window over which CPU is measured (the target is stated over >= 10 s)")
    parser.add_argument("--settle", type=validate.Number(0.0, 600.0, unit="seconds"), default=3.0,
                        help="seconds after the card registered before the idle window")
    parser.add_argument("--no-handset", action="store_true", help="a box without its handset (comparison)")
    parser.add_argument("--workdir", type=validate.NewDir(),
                        help="keep the rig's files here (default: a temporary directory)")


def rig_spec(*, handset: bool = True) -> Any:
    """One box with a conversation line (cx93001) on the exchange, a sim handset, one holder's card."""
    from roamline.hil.rig import RigSpec

    box: dict[str, Any] = {
        "name": BOX, "country": "US",
        "civic": {"country": "US", "A1": "IL", "A3": "Springfield", "HNO": "12", "RD": "Elm Street",
                  "PC": "62701"},
        "line": {"number": "+15550100001", "modem": "cx93001"},
    }
    if handset:
        box["phone"] = {"backend": "sim", "seed": None}
    return RigSpec.model_validate({
        "name": "bench-box",
        "accounts": [{"name": "alice", "numbers": ["+15550100001"]}],
        "cards": [{"name": CARD, "account": "alice"}],
        "boxes": [box],
        "exchange": {"phones": [{"number": "+15550300003", "name": "BOB JONES"}]},
    })


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads) from ``/proc``."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_mem_mb(pid: int) -> dict[str, float]:
    """``VmRSS``, ``VmHWM``, ``RssAnon`` and ``RssFile`` of a process, MB (10^6 bytes)."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0]) * 1024 / 1e6
    return out


def mapped_packages(pid: int, names: tuple[str, ...]) -> dict[str, bool]:
    """Whether the process has mapped a file under a folder of each name (``/proc/PID/maps``): an
    extension module of the package was imported, whatever imported it."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {name: f"/{name}/" in maps for name in names}


def measure(workdir: Path, *, idle_s: float, settle_s: float, handset: bool = True) -> dict[str, Any]:
    import json
    import os
    import sys
    import time

    from roamline.hil.proc import ProcessFailed
    from roamline.hil.rigrun import RigRunner

    rig = RigRunner(rig_spec(handset=handset), workdir)
    try:
        print("bench box: starting the registry, the exchange, enrolling the box", file=sys.stderr)
        rig.workdir.mkdir(parents=True, exist_ok=True)
        rig.start_cloud()
        rig.start_exchange()
        rig.enroll_boxes()
        box = rig.boxes[BOX]
        box.pcscd.start()
        rig.insert(CARD, BOX)
        proc = box.process
        t0 = time.monotonic()
        proc.start(timeout=60)  # the first start makes the spoken prompts (espeak-ng) into data_dir
        proc.wait_for(r'"state": "ready"', timeout=60)
        first_ready = time.monotonic() - t0
        proc.stop(timeout=20)  # a restart (a power cut): what a box in service does
        mark = len(proc.output())
        t0 = time.monotonic()
        proc.start(timeout=60)  # returns at the "running" line
        t_running = time.monotonic()
        m = proc.wait_for(r'"state": "ready"', timeout=60, after=mark)
        t_ready = time.monotonic()
        assert proc.pid is not None
        ready_cpu = proc_cpu_s(proc.pid)  # CPU to ready: less load-sensitive than the wall time
        line = m.string
        ready = json.loads(line[line.index("{"):])
        proc.wait_for(r" registered( |$)", timeout=60, after=mark)
        t_registered = time.monotonic()
        pid = proc.pid
        assert pid is not None
        print(f"bench box: ready in {t_ready - t0:.2f} s, card registered; idle window {idle_s:.0f} s",
              file=sys.stderr)
        time.sleep(settle_s)
        c0, w0 = proc_cpu_s(pid), time.monotonic()
        time.sleep(idle_s)
        c1, w1 = proc_cpu_s(pid), time.monotonic()
        mem = proc_mem_mb(pid)
        if not proc.running():
            raise ProcessFailed(f"the box exited during the idle window: {proc.tail()}")
        threads = sum(1 for _ in Path(f"/proc/{pid}/task").iterdir())
        mapped = mapped_packages(pid, ("pydantic_core", "msgspec", "numpy"))
    finally:
        rig.stop()
    return {
        "rss_mb": round(mem["VmRSS"], 1),
        "rss_peak_mb": round(mem["VmHWM"], 1),
        "rss_anon_mb": round(mem["RssAnon"], 1),  # Python's heap, arenas, thread stacks, libraries' data
        "rss_file_mb": round(mem["RssFile"], 1),  # pages of the interpreter and of extension modules
        "idle_cpu_pct": round(100 * (c1 - c0) / (w1 - w0), 2),
        "idle_window_s": round(w1 - w0, 2),
        "ready_s": round(t_ready - t0, 2),
        "ready_cpu_s": round(ready_cpu, 2),
        "first_start_ready_s": round(first_ready, 2),
        "running_s": round(t_running - t0, 2),
        "registered_s": round(t_registered - t0, 2),
        "box_ready_s": ready.get("ready_s"),  # the box's own count, from its runtime's start
        "peripherals": {k: ready.get(k) for k in ("line", "handset", "cards")},
        "threads": threads,
        "mapped": mapped,  # which of these packages' extension modules the box process has loaded
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def run(args: argparse.Namespace) -> int:
    import json
    import tempfile

    with tempfile.TemporaryDirectory(prefix="roamline-bench-box-") as tmp:
        root = Path(args.workdir) if args.workdir else Path(tmp)
        result = measure(root, idle_s=args.idle_seconds, settle_s=args.settle, handset=not args.no_handset)
    print(json.dumps(result))
    return 0
