"""`roamline bench line`: CPU cost of one full-duplex voice call through the line driver, and DLE parse speed.

The call runs in real time across the exchange simulator, which runs in a child process, so the CPU
time of this process (``time.process_time``) is the driver's alone: pyserial I/O, DLE and AT parsing,
the session and the paced 20 ms sender.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

SUMMARY = "line driver: CPU per second of a full-duplex call, and DLE stream parse MB/s"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.firmware.line.diag_cmd import modem_profile_names
    from roamline.wire import validate

    parser.add_argument("--seconds", type=validate.seconds(600.0), default=5.0,
                        help="length of the voice call (real time)")
    parser.add_argument("--profile", default="cx93001", type=modem_profile_names(),
                        help="modem dialect/profile with +VTR (full duplex)")
    parser.add_argument("--parse-mb", type=validate.Number(0.0, 4096.0, lo_open=True), default=16.0,
                        help="megabytes of DLE stream to parse")
    parser.add_argument("--json", action="store_true")


def dle_parse_rate(megabytes: float, chunk: int = 4096) -> float:
    """MB/s of modem→host voice stream decoded by DleDecoder (random bytes, so ~1/256 are shielded DLEs,
    plus a DLE event every 4 KiB), fed in ``chunk``-byte reads."""
    from roamline.firmware.line import dle

    block = bytearray(dle.shield(os.urandom(4096)) + b"\x105")
    stream = bytes(block) * max(1, int(megabytes * 1e6 / len(block)))
    decoder = dle.DleDecoder()
    start = time.perf_counter()
    for i in range(0, len(stream), chunk):
        decoder.feed(stream[i : i + chunk])
    return len(stream) / 1e6 / (time.perf_counter() - start)


def _exchange_child(conn: Any, profile: str, seconds: float) -> None:
    """The exchange in its own process, so none of its CPU is charged to the driver."""
    from roamline.hil.exchange import audio
    from roamline.hil.exchange.runner import ExchangeRunner

    with ExchangeRunner(time_scale=1.0) as ex:
        ex.add_line("5550100", profile)
        phone = ex.add_phone("5551234", name="BENCH")
        conn.send(ex.device("5550100"))
        while (msg := conn.recv()) != "stop":
            if msg == "dial":
                phone.dial("5550100")
            elif msg == "play":
                phone.play(audio.tone((440,), seconds + 2))
            conn.send("ok")


def call_cpu(seconds: float, profile: str) -> dict[str, Any]:
    import multiprocessing

    from roamline.firmware.line import events as ev
    from roamline.firmware.line.serial_line import SerialLine
    from roamline.firmware.line.session import LineSession
    from roamline.hil.exchange import audio

    ctx = multiprocessing.get_context("fork")
    conn, child_conn = ctx.Pipe()
    child = ctx.Process(target=_exchange_child, args=(child_conn, profile, seconds), daemon=True)
    child.start()
    try:
        device = conn.recv()
        with SerialLine(device, LineSession()) as line:
            line.identify()
            line.initialise()
            if not line.session.can_bridge:
                raise SystemExit(f"profile {profile} is half duplex: no full-duplex call to measure")
            conn.send("dial")
            conn.recv()
            if line.wait_for(ev.Ring, 15) is None:
                raise SystemExit("no ring from the exchange")
            line.answer()
            conn.send("play")
            conn.recv()
            frame = bytes(audio.encode(audio.tone((1000,), 0.02, level=0.3), line.session.encoding))
            received = sent = 0
            cpu0, t0 = time.process_time(), time.monotonic()
            next_frame = t0
            # The voice loop a bridge runs: every 20 ms send one frame and take what arrived.
            while time.monotonic() - t0 < seconds:
                line.send_voice(frame)
                sent += len(frame)
                next_frame += 0.02
                time.sleep(max(0.0, next_frame - time.monotonic()))
                for e in line.pump(0):
                    if isinstance(e, ev.VoiceData):
                        received += len(e.data)
                    elif isinstance(e, ev.CallEnded):
                        raise SystemExit(f"call ended early: {e.reason}")
            cpu = time.process_time() - cpu0
            wall = time.monotonic() - t0
            line.hangup()
    finally:
        conn.send("stop")
        child.join(timeout=10)
    return {"cpu_ms_per_call_second": round(cpu * 1000 / wall, 3), "call_seconds": round(wall, 2),
            "voice_bytes_received": received, "voice_bytes_sent": sent, "profile": profile,
            "cpu_percent_of_one_core": round(cpu * 100 / wall, 3)}


def run(args: argparse.Namespace) -> int:
    result = call_cpu(args.seconds, args.profile)
    result["dle_parse_mb_per_s"] = round(dle_parse_rate(args.parse_mb), 1)
    if not args.json:
        print(f"full-duplex call: {result['cpu_ms_per_call_second']} ms CPU per call second "
              f"({result['cpu_percent_of_one_core']} % of one core); "
              f"DLE parse: {result['dle_parse_mb_per_s']} MB/s")
    print(json.dumps(result, sort_keys=True))
    return 0
