"""`roamline bench flood --json`: a bounded localhost connection flood against one registry process.

Attackers on 127.0.0.2.. complete the QUIC handshake, never send hello, ping to stay alive and
reconnect when cut off; real boxes on 127.0.0.1 register during the flood. Reports connections
attempted, held and not admitted, the longest any was held, the most unauthenticated connections the
registry held at once, its CPU, and how the boxes fared. The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse

SUMMARY = "connection flood (localhost only): unauthenticated connections held, registry CPU, boxes served"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    parser.add_argument("--json", action="store_true", help="print the result as one JSON line (default)")
    parser.add_argument("--sources", type=validate.count(1, 20), default=2,
                        help="attacking loopback addresses (127.0.0.2...)")
    parser.add_argument("--attackers", type=validate.count(1, 1000), default=100,
                        help="concurrent attacking connections")
    parser.add_argument("--seconds", type=validate.seconds(120.0), default=15.0, help="flood duration")
    parser.add_argument("--boxes", type=validate.count(1, 200), default=20,
                        help="real boxes registering during the flood")
    parser.add_argument("--hello-timeout", type=validate.seconds(60.0), default=2.0,
                        help="the registry's hello deadline")
    parser.add_argument("--max-unauthenticated", type=validate.count(1, 100_000), default=16,
                        help="the registry's cap of unauthenticated connections per source address")
    parser.add_argument("--workdir", type=validate.NewDir(),
                        help="keep the registry's data here (default: a temporary directory)")


def run(args: argparse.Namespace) -> int:
    import json
    import tempfile
    from pathlib import Path

    from roamline.hil.bench.flood import FloodPlan, measure_flood
    plan = FloodPlan(sources=args.sources, attackers=args.attackers, seconds=args.seconds, boxes=args.boxes,
                     hello_deadline_s=args.hello_timeout, max_unauthenticated=args.max_unauthenticated)
    plan.check()
    with tempfile.TemporaryDirectory(prefix="roamline-flood-") as tmp:
        root = Path(args.workdir) if args.workdir else Path(tmp)
        result = measure_flood(root / "registry", plan)
    print(json.dumps(result))
    return 0
