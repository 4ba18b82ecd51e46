"""`roamline box diag gps (--gpsd HOST:PORT | --nmea FILE | --device TTY) [--json]`: read a GPS source and
say whether it gives a valid fix. A file is replayed in full; a live source is read until a valid fix
arrives or ``--timeout`` passes. The last line is one JSON object: ``valid``, ``lat``, ``lon`` (the most
recent valid fix, or null), ``error_m``, ``mode``, ``satellites``, ``reason`` (why the latest fix was
rejected), plus ``source`` and ``counters`` (sentences read and skipped, and why)."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from roamline.firmware.location.fix import Fix

SUMMARY = "read gpsd, an NMEA log or a serial receiver and report the fix (valid, position, error, why not)"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--gpsd", type=validate.HostPort(), metavar="HOST:PORT", help="a gpsd to watch")
    src.add_argument("--nmea", type=validate.ExistingFile(), metavar="FILE",
                     help="an NMEA log, replayed in full")
    src.add_argument("--device", type=validate.Device(), metavar="TTY",
                     help="a serial NMEA receiver (e.g. /dev/ttyUSB0) or pyserial URL")
    parser.add_argument("--baud", type=validate.Number(300, 921600, integer=True), default=9600,
                        help="serial speed for --device (default 9600)")
    parser.add_argument("--timeout", type=validate.seconds(600.0), default=10.0, metavar="SECONDS",
                        help="how long a live source is read at most (default 10)")
    parser.add_argument("--json", action="store_true", help="print only the JSON result line")


def run(args: argparse.Namespace) -> int:
    from roamline.firmware.location.tracker import Tracker

    tracker = Tracker()
    source, counters = read_source(args, lambda fix: tracker.observe(fix, time.monotonic()).valid)
    result: dict[str, Any] = {**tracker.summary().as_dict(), "source": source, "counters": counters}
    if not args.json:
        s = tracker.summary()
        print(f"source: {source}")
        verdict = "valid" if s.valid else "NOT valid: " + s.reason
        print(f"fix: {verdict}; mode {s.mode}, satellites {s.satellites}")
        if s.lat is not None:
            print(f"last valid position: {s.lat:.6f}, {s.lon:.6f} (±{s.error_m or 0:.1f} m)")
    print(json.dumps(result, sort_keys=True))
    return 0 if result["valid"] else 1


Sink = Callable[["Fix"], bool]  # takes a fix, says whether it was valid


def read_source(args: argparse.Namespace, sink: Sink) -> tuple[str, dict[str, int]]:
    """Read the source the options name (``nmea``, ``gpsd``, ``device``) into ``sink``: a file in full,
    a live source until a valid fix or ``args.timeout``. Returns its name and the decoder's counters."""
    if getattr(args, "nmea", None) is not None:
        return f"nmea:{args.nmea}", _replay(args.nmea, sink)
    if getattr(args, "gpsd", None) is not None:
        import asyncio

        from roamline.wire.validate import check_host_port

        host, port = check_host_port(args.gpsd)
        return f"gpsd:{host}:{port}", asyncio.run(_watch_gpsd(host, port, args.timeout, sink))
    return f"device:{args.device}", _read_device(args.device, args.baud, args.timeout, sink)


def _replay(path: Any, sink: Sink) -> dict[str, int]:
    from roamline.firmware.location.nmea import NmeaDecoder

    decoder = NmeaDecoder(source="file")
    with open(path, "rb") as f:  # a replay is instant: every fix is judged as it arrives, so none is stale
        while chunk := f.read(4096):
            for fix in decoder.feed(chunk, time.monotonic()):
                sink(fix)
        for fix in decoder.feed(b"\n", time.monotonic()):  # a last line without its line end
            sink(fix)
    return decoder.counters.as_dict()


async def _watch_gpsd(host: str, port: int, timeout: float, sink: Sink) -> dict[str, int]:  # noqa: ASYNC109
    import asyncio

    from roamline.firmware.location.gpsd_client import GpsdClient

    client = GpsdClient(host, port, now=time.monotonic)
    await client.open()
    try:
        async with asyncio.timeout(timeout):
            async for fix in client.fixes():
                if sink(fix):
                    break
    except TimeoutError:
        pass
    finally:
        await client.close()
    return client.decoder.counters.as_dict()


def _read_device(device: str, baud: int, timeout: float, sink: Sink) -> dict[str, int]:
    from roamline.firmware.location.serial_source import SerialNmeaSource

    deadline = time.monotonic() + timeout
    with SerialNmeaSource(device, baud=baud, now=time.monotonic) as src:
        while time.monotonic() < deadline:
            if any([sink(fix) for fix in src.read()]):  # every fix is seen, not just up to the first valid
                break
        return src.decoder.counters.as_dict()
