"""`roamline bench calls --json`: the relay's cost per relayed call (the cloud side of issue 9's bench).

One real `roamline cloud serve` on a fresh data directory; a load-generator process
(``roamline.hil.bench.callload``) sets up ``--calls`` calls through the real router (each a host box and
a terminal box, both on their own QUIC connections, proven by hello, the terminal's card registered),
then both legs of every call send PCMU datagrams every 20 ms (so the relay receives and sends 100
datagrams/s per call) for ``--seconds``. The registry's CPU over that window (``/proc``) gives
``relay_cpu_pct_per_call`` (percent of one core per call, at the rate achieved),
``relay_cpu_us_per_datagram`` (per datagram received, checked, forwarded and delivered to the other leg)
and ``projected_cpu_pct_per_call`` (that cost at the full 100 datagrams/s of a call): when the machine
cannot carry the offered load, ``delivered_pct`` says so and the projection is the honest figure.
``--profile`` runs a second, shorter window with the registry under cProfile (CPU time) and
prints its top functions (cProfile slows the process: the figures come from the unprofiled run).
Encryption and every check stay on. Progress on stderr; the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

SUMMARY = "relay CPU per relayed call: N concurrent calls relayed by one registry process"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    parser.add_argument("--json", action="store_true", help="print the result as one JSON line (default)")
    parser.add_argument("--calls", type=validate.count(1, 1000), default=50, help="concurrent relayed calls")
    parser.add_argument("--seconds", type=validate.seconds(3600.0), default=10.0,
                        help="measured window, seconds")
    parser.add_argument("--warmup", type=validate.Number(0.0, 3600.0, unit="seconds"), default=2.0,
                        help="seconds of media before the window")
    parser.add_argument("--m2e-calls", type=validate.count(0, 1000), default=2,
                        help="calls whose two directions are jittered and measured mouth to ear (0: none)")
    parser.add_argument("--jitter-ms", type=validate.Number(0.0, 200.0, unit="ms"), default=20.0,
                        help="extra uniform 0..N ms delay per datagram on the measured calls")
    parser.add_argument("--setup-samples", type=validate.count(0, 1000), default=20,
                        help="calls set up through real box processes for setup_p50/p99_ms (0: skip)")
    parser.add_argument("--profile", action="store_true", help="also profile the registry (cProfile)")
    parser.add_argument("--workdir", type=validate.NewDir(),
                        help="keep the data directory here (default: a temporary one)")


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    import tempfile

    from roamline.hil.errors import UsageError

    if args.calls < 1 or args.seconds <= 0 or args.warmup < 0:
        raise UsageError("--calls and --seconds must be positive, --warmup not negative")
    if args.m2e_calls > args.calls:
        raise UsageError("--m2e-calls cannot exceed --calls")
    with tempfile.TemporaryDirectory(prefix="roamline-bench-calls-") as tmp:
        root = Path(args.workdir) if args.workdir else Path(tmp)
        result: dict[str, object] = {}
        if args.setup_samples:
            result.update(measure_setup(root / "setup", args.setup_samples))
        result.update(measure(root / "plain", args.calls, args.seconds, args.warmup, profile=False,
                              m2e_calls=args.m2e_calls, jitter_ms=args.jitter_ms))
        if args.profile:
            prof = measure(root / "profiled", args.calls, min(args.seconds, 5.0), 1.0, profile=True)
            result["profile_by_area_pct"] = prof.get("profile_by_area_pct", {})
            result["profile_top"] = prof.get("profile_top", [])
            print(f"bench calls: profile by area: {result['profile_by_area_pct']}", file=sys.stderr)
            for line in result["profile_top"]:  # type: ignore[attr-defined]
                print(line, file=sys.stderr)
    print(json.dumps(result))
    return 0


_AREAS = (
    ("aioquic", "aioquic"), ("asyncio", "asyncio"), ("cloud/relay", "relay"), ("cloud/router", "router"),
    ("cloud/", "registry"), ("wire/", "wire"), ("sendto", "socket"), ("recvfrom", "socket"),
    ("sqlite", "sqlite"), ("compile", "startup"), ("marshal", "startup"), ("exec", "startup"),
    ("importlib", "startup"), ("_compiler", "startup"), ("cryptography", "crypto"), ("~", "builtins"),
)


def _cpu_s(pid: int) -> float:
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _make_fleet(data: Path, calls: int) -> Path:
    import json
    import secrets
    import time

    from roamline.cloud.store import Box, Card, SqliteStore
    from roamline.wire import identity

    ca = identity.CertificateAuthority.load(data)
    now = time.time()
    entries = []
    with SqliteStore(data / "registry.db") as store:
        for i in range(calls):
            line = f"+1555{i:07d}"
            account = f"acct-{i}"
            store.create_account(account, f"Holder {i}", now)
            store.add_number(account, line)
            boxes = {}
            for role, name in (("host", f"host-{i}"), ("terminal", f"term-{i}")):
                key = identity.generate_key()
                box_id = identity.box_id_for_key(key.public_key())
                cert = identity.certificate_pem(ca.issue(role=identity.Role.BOX, subject_id=box_id,
                                                         public_key=key.public_key(), now=now)).decode()
                store.put_box(Box(box_id, cert, name, "sim", None, line if role == "host" else None, None,
                                  False, now))
                boxes[role] = {"box_id": box_id, "cert_pem": cert,
                               "key_pem": identity.private_key_pem(key).decode()}
            ckey = identity.generate_key()
            card_id = secrets.token_hex(16)
            ccert = identity.certificate_pem(ca.issue(role=identity.Role.CARD, subject_id=card_id,
                                                      public_key=ckey.public_key(), now=now)).decode()
            store.put_card(Card(card_id, account, ccert, False, now))
            entries.append({"line": line, **boxes, "card": {
                "card_id": card_id, "cert_pem": ccert, "key_pem": identity.private_key_pem(ckey).decode()}})
    path = data.parent / f"{data.name}-fleet.json"
    path.write_text(json.dumps({"ca_pem": ca.cert_pem.decode(), "calls": entries}))
    return path


def measure(root: Path, calls: int, seconds: float, warmup: float, *, profile: bool, m2e_calls: int = 0,
            jitter_ms: float = 20.0) -> dict[str, object]:
    import contextlib
    import json
    import pstats
    import subprocess
    import sys
    import time

    from roamline.cli.main import main as cli_main
    from roamline.hil.proc import ManagedProcess, ProcessFailed

    data = root / "reg"
    root.mkdir(parents=True, exist_ok=True)
    with contextlib.redirect_stdout(sys.stderr):  # stdout's last line is the result
        if cli_main(["cloud", "ca", "init", "--data", str(data)]) != 0:
            raise ProcessFailed("cloud ca init failed")
    fleet = _make_fleet(data, calls)
    roamline = str(Path(sys.executable).parent / "roamline")
    serve = [roamline, "cloud", "serve", "--data", str(data), "--port", "0", "--media-silence", "60"]
    prof_file = root / "registry.prof"
    if profile:  # CPU time, not wall time (the loop's idle waits are not cost)
        code = ("import cProfile, sys, time\n"
                "from roamline.cli.main import entry\n"
                "p = cProfile.Profile(time.process_time)\n"
                f"sys.argv = {serve!r}\n"
                "p.enable()\n"
                "try:\n    entry()\n"
                f"finally:\n    p.disable()\n    p.dump_stats({str(prof_file)!r})\n")
        serve = [sys.executable, "-c", code]
    registry = ManagedProcess("registry", serve, ready=r'"port": (\d+)')
    match = registry.start(timeout=30)
    assert match is not None
    port = int(match.group(1))
    print(f"bench calls: registry on port {port}, setting up {calls} calls", file=sys.stderr)
    gen = subprocess.Popen([sys.executable, "-m", "roamline.hil.bench.callload", str(fleet), str(port),
                            str(m2e_calls), str(jitter_ms)],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert gen.stdin is not None and gen.stdout is not None
        ready = gen.stdout.readline()
        if not ready:
            raise ProcessFailed(f"load generator exited before its calls were up: {registry.tail()}")
        t0 = time.time() + warmup + 0.5
        t1 = t0 + seconds
        gen.stdin.write(json.dumps({"start": t0, "end": t1}) + "\n")
        gen.stdin.flush()
        time.sleep(max(0.0, t0 - time.time()))
        pid = registry.pid
        assert pid is not None
        c0, w0, g0 = _cpu_s(pid), time.time(), _cpu_s(gen.pid)
        time.sleep(max(0.0, t1 - time.time()))
        c1, w1, g1 = _cpu_s(pid), time.time(), _cpu_s(gen.pid)
        out = gen.stdout.readlines()
        gen.wait(30)
        res = json.loads(out[-1])
        print(f"bench calls: load generator: {out[-1].strip()}", file=sys.stderr)
    finally:
        if gen.poll() is None:
            gen.kill()
        registry.stop(timeout=20)
        for line in registry.output():
            if '"stopped"' in line:
                print(f"bench calls: registry: {line}", file=sys.stderr)
    cpu_pct = 100 * (c1 - c0) / (w1 - w0)
    # datagrams offered in the window: what the generator sent in it; relayed: what reached the other leg
    # (each was received, checked and forwarded by the registry: the per-datagram cost is over those)
    handled = max(1, int(res["sent_in_window"]))
    result: dict[str, object] = {
        "calls": calls,
        "window_s": round(w1 - w0, 2),
        "relay_cpu_pct": round(cpu_pct, 1),
        "relay_cpu_pct_per_call": round(cpu_pct / calls, 3),
        "relay_cpu_us_per_datagram": round(1e6 * (c1 - c0) / max(1, int(res["received_in_window"])), 1),
        "datagrams_relayed_per_s": round(res["received_in_window"] / (w1 - w0)),
        "datagrams_per_s_in": round(handled / (w1 - w0)),
        "delivered_pct": round(100 * res["received_in_window"] / handled, 2),
        "out_of_order": res["out_of_order"],
        "bad": res["bad"],
        "generator_cpu_pct": round(100 * (g1 - g0) / (w1 - w0), 1),
        "generator_ticks_skipped": res["ticks_skipped"],
        "generator_dropped_queued": res.get("dropped_queued", 0),
        "load_avg_1m": round(__import__("os").getloadavg()[0], 2),
        "fits_one_core": cpu_pct <= 100.0 and res["received_in_window"] >= 0.99 * handled,
        "projected_cpu_pct_per_call": round(1e4 * (c1 - c0) / max(1, int(res["received_in_window"])), 2),
    }
    if res.get("m2e_flows"):
        result.update({
            "mouth_to_ear_added_ms": res["m2e_ms"],
            "mouth_to_ear_p95_ms": res["m2e_p95_ms"],
            "m2e_parts_ms": {"packetisation": res["m2e_packetisation_ms"], "network": res["m2e_network_ms"],
                             "jitter_buffer": res["m2e_buffer_ms"]},
            "late_loss_pct": res["m2e_late_pct"],
            "concealed_pct": res["m2e_concealed_pct"],
            "m2e_flows": res["m2e_flows"],
            "m2e_frames": res["m2e_frames"],
            "jitter_ms": jitter_ms,
        })
    if profile and prof_file.exists():
        stats = pstats.Stats(str(prof_file))
        total = stats.total_tt  # type: ignore[attr-defined]
        rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:15]  # type: ignore[attr-defined]
        areas: dict[str, float] = {}
        for (fn, _ln, name), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            area = next((a for key, a in _AREAS if key in fn or key in name), "other")
            areas[area] = areas.get(area, 0.0) + tt
        result["profile_by_area_pct"] = {a: round(100 * t / total, 1)
                                         for a, t in sorted(areas.items(), key=lambda kv: -kv[1])}
        result["profile_top"] = [
            f"{100 * tt / total:5.1f}% {tt:7.3f}s {Path(fn).name}:{ln} {name}"
            for (fn, ln, name), (_cc, _nc, tt, _ct, _callers) in rows
        ]
    return result


# -- call setup through real box processes ------------------------------------------------------------

ALICE = "+15550100001"  # the follow-me number: host box-a's line
BOB = "+15550300003"  # the PSTN caller


def setup_rig() -> Any:
    """A host box with a line (cx93001) and no handset, a terminal box with a handset and no line, one
    holder whose number is the host's line and whose card is in the terminal box."""
    from roamline.hil.rig import RigSpec

    civic = {"country": "US", "A1": "IL", "A3": "Springfield", "HNO": "12", "RD": "Elm Street", "PC": "62701"}
    return RigSpec.model_validate({
        "name": "bench-setup",
        "accounts": [{"name": "alice", "numbers": [ALICE]}],
        "cards": [{"name": "alice-card", "account": "alice"}],
        "boxes": [{"name": "host", "civic": civic, "line": {"number": ALICE, "modem": "cx93001"}},
                  {"name": "term", "civic": civic, "phone": {"backend": "sim", "seed": None}}],
        "exchange": {"phones": [{"number": BOB, "name": "BOB JONES"}]},
    })


def log_wall(line: str) -> float:
    """The Unix time of a box log line (its local ``HH:MM:SS.mmm`` stamp, today)."""
    import re
    import time

    m = re.search(r"(\d\d):(\d\d):(\d\d)\.(\d{3})", line)
    if m is None:
        raise ValueError(f"no time stamp in {line!r}")
    h, mi, sec, ms = (int(g) for g in m.groups())
    lt = time.localtime()
    midnight = time.mktime((lt.tm_year, lt.tm_mon, lt.tm_mday, 0, 0, 0, 0, 0, -1))
    t = midnight + 3600 * h + 60 * mi + sec + ms / 1000
    if t - time.time() > 43200:  # stamped before midnight, read after it
        t -= 86400
    return t


def measure_setup(root: Path, samples: int) -> dict[str, object]:
    """``samples`` PSTN calls to the holder's number: host box's ``line.ring`` report (its log stamp) →
    the terminal box's handset ringing (the simulated bell's first burst, ``time.monotonic`` system-wide
    → Unix time). Each call is answered at the terminal and hung up by the caller before the next."""
    import sys
    import time

    import numpy as np

    from roamline.hil.rigrun import RigRunner

    rig = RigRunner(setup_rig(), root)
    setups: list[float] = []
    with rig:
        mark = rig.box_log_mark("term")
        rig.insert("alice-card", "term")
        rig.wait_box_event("term", "registered", mark, timeout=30)
        phone = rig.handset("term")
        bob = rig.pstn(BOB)
        print(f"bench calls: setup through real box processes, {samples} calls", file=sys.stderr)
        for _ in range(samples):
            host_mark, term_mark = rig.box_log_mark("host"), rig.box_log_mark("term")
            before = len(phone.rings())
            bob.call(ALICE)
            try:
                ring = phone.wait_ring(after=before, bursts=1, timeout=30)
                reported = rig.wait_box_event("host", "line.ring", host_mark, timeout=10)
                offset = time.time() - time.monotonic()
                setups.append(ring["start"] + offset - log_wall(reported))
                phone.lift()
                rig.wait_box_event("term", "call.answered", term_mark, timeout=15)
            finally:
                bob.hang_up()
            rig.wait_box_event("term", "call.ended", term_mark, timeout=20)
            phone.hang_up()
            rig.wait_box_event("host", "line.ended", host_mark, timeout=20)
            time.sleep(0.3)
    ms = np.array(setups) * 1000
    print(f"bench calls: setup ms {[round(x) for x in ms]}", file=sys.stderr)
    return {"setup_p50_ms": round(float(np.quantile(ms, 0.5)), 1),
            "setup_p99_ms": round(float(np.quantile(ms, 0.99)), 1),
            "setup_max_ms": round(float(ms.max()), 1), "setup_samples": len(ms)}
