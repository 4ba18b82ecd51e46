"""`roamline bench register --json`: registrations per second and insert-to-routable latency.

Two measurements, both on real processes (DESIGN §8a, §6.1):
- throughput: one `roamline cloud serve` on a fresh data directory; load-generator processes
  (roamline.hil.bench.regload) simulate ``--boxes`` boxes, each on its own QUIC connection and proven by
  hello with its own enrolled key; each registration is nonce → card signature → register → registered;
  only successes inside the measured window (after ``--warmup``) count;
- latency: a virtual PIV card inserted ``--inserts`` times into a box running the real firmware on its
  own pcscd; the box reports each insert-to-routable time.
Progress goes to stderr; the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse

SUMMARY = "registrations/s (one registry, many simulated boxes) and card insert-to-routable latency"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line (default)")
    from roamline.wire import validate

    parser.add_argument("--boxes", type=validate.count(1, 100_000), default=100,
                        help="simulated boxes (one QUIC connection each)")
    parser.add_argument("--cards-per-box", type=validate.count(1, 10_000), default=8)
    parser.add_argument("--procs", type=validate.count(1, 256), default=1, help="load-generator processes")
    parser.add_argument("--inflight", type=validate.count(1, 10_000), default=1,
                        help="concurrent registrations per box")
    parser.add_argument("--warmup", type=validate.Number(0.0, 3600.0, unit="seconds"), default=3.0,
                        help="seconds of load before the window")
    parser.add_argument("--seconds", type=validate.seconds(3600.0), default=10.0,
                        help="measured window, seconds")
    parser.add_argument("--inserts", type=validate.count(1, 100_000), default=40,
                        help="card insertions for the latency figure")
    parser.add_argument("--workdir", type=validate.NewDir(),
                        help="keep the rigs here (default: a temporary directory)")


def run(args: argparse.Namespace) -> int:
    import json
    import tempfile
    from pathlib import Path

    from roamline.hil.bench.reglatency import measure_insert_to_routable
    from roamline.hil.bench.regthroughput import LoadPlan, measure_throughput, percentile
    from roamline.hil.errors import UsageError

    if min(args.boxes, args.cards_per_box, args.procs, args.inflight, args.inserts) < 1 or args.seconds <= 0:
        raise UsageError("--boxes, --cards-per-box, --procs, --inflight, --inserts and --seconds must be > 0")
    if args.cards_per_box < args.inflight:
        raise UsageError("--cards-per-box must be at least --inflight (a card is never in flight twice)")
    plan = LoadPlan(boxes=args.boxes, cards_per_box=args.cards_per_box, procs=args.procs,
                    inflight=args.inflight, warmup_s=args.warmup, seconds=args.seconds)
    with tempfile.TemporaryDirectory(prefix="roamline-bench-") as tmp:
        root = Path(args.workdir) if args.workdir else Path(tmp)
        result = measure_throughput(root / "throughput", plan)
        lat = measure_insert_to_routable(root / "insert", args.inserts)["samples"]
    result.update({
        "insert_to_routable_p50_ms": round(percentile(lat, 0.50), 2),
        "insert_to_routable_p99_ms": round(percentile(lat, 0.99), 2),
        "insert_to_routable_max_ms": round(max(lat), 2),
        "insert_samples": len(lat),
    })
    print(json.dumps(result))
    return 0
