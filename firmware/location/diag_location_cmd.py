"""`roamline box diag location --config BOX.toml [--nmea FILE | --gpsd HOST:PORT | --device TTY | --no-gps]
[--json]`: the box's current location record (the ``location`` object registrations carry) and the PIDF-LO
an emergency call would send, checked against the RFC schemas and the RFC 5491 subset. The GPS source
defaults to the board profile's ``[gps]`` section. The last line is one JSON object: ``location``,
``pidf_lo`` (the XML text), ``pidf_valid``, ``pidf_problem`` and ``gps`` (the fix summary)."""

from __future__ import annotations

import argparse
import json
from typing import Any

SUMMARY = "show the box's location record (address, GPS, network) and its PIDF-LO, schema-checked"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    parser.add_argument("--config", required=True, type=validate.ExistingFile(), metavar="BOX.toml",
                        help="the box configuration (its [location] addresses and board profile)")
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--gpsd", type=validate.HostPort(), metavar="HOST:PORT", help="read this gpsd")
    src.add_argument("--nmea", type=validate.ExistingFile(), metavar="FILE", help="replay an NMEA log")
    src.add_argument("--device", type=validate.Device(), metavar="TTY", help="read this NMEA receiver")
    src.add_argument("--no-gps", action="store_true", help="do not read GPS (civic address only)")
    parser.add_argument("--baud", type=validate.Number(300, 921600, integer=True), default=9600,
                        help="serial speed for --device (default: the profile's, else 9600)")
    parser.add_argument("--timeout", type=validate.seconds(600.0), default=5.0, metavar="SECONDS",
                        help="how long a live GPS source is read at most (default 5)")
    parser.add_argument("--json", action="store_true", help="print only the JSON result line")


def run(args: argparse.Namespace) -> int:
    from roamline.board.profile import load_profile
    from roamline.firmware.config import load_box_config
    from roamline.firmware.location import pidf
    from roamline.firmware.location.diag_gps_cmd import read_source
    from roamline.firmware.location.errors import PeerError, UsageError
    from roamline.firmware.location.fingerprint import read_gateway
    from roamline.firmware.location.service import LocationService
    from roamline.wire.clock import SystemClock

    config = load_box_config(args.config)
    if not config.location.addresses:
        raise UsageError(f"{args.config}: no recorded address ([[location.addresses]]); 911 has none to send")
    service = LocationService(config.location.addresses, clock=SystemClock(),
                              threshold_m=config.location.moved_threshold_m)
    service.on_network(gateway=read_gateway())
    gps_problem = ""
    if not args.no_gps:
        if args.gpsd is None and args.nmea is None and args.device is None:
            gps = load_profile(config.board).gps
            args.gpsd, args.device = gps.gpsd, gps.serial
            args.baud = gps.baud if gps.serial else args.baud
        if args.gpsd is not None or args.nmea is not None or args.device is not None:
            def sink(fix: Any) -> bool:
                service.on_fix(fix)  # moved reports are the runtime's business, not this diagnostic's
                verdict = service.tracker.latest_verdict
                return verdict is not None and verdict.valid

            try:
                read_source(args, sink)
            except PeerError as exc:  # no GPS is not fatal: the recorded address is what 911 needs
                gps_problem = str(exc)
    document = service.pidf_lo(f"pres:{config.name}@box.roamline.invalid")
    assert document is not None
    try:
        pidf.validate(document)
        problem = ""
    except PeerError as exc:
        problem = str(exc)
    summary: dict[str, Any] = service.tracker.summary().as_dict()
    if gps_problem:
        summary["reason"] = gps_problem
    result = {"location": service.snapshot(), "pidf_lo": document.decode("utf-8"),
              "pidf_valid": not problem, "pidf_problem": problem, "gps": summary}
    if not args.json:
        from roamline.wire.civic import describe

        loc: dict[str, Any] = service.snapshot() or {}
        print(f"address: {describe(loc)} ({loc.get('state')})")
        geo = loc.get("geo")
        print(f"gps: {geo['lat']:.6f}, {geo['lon']:.6f} ±{geo['error_m'] or 0:.0f} m" if geo
              else f"gps: none ({summary['reason'] or 'not read'})")
        print(f"PIDF-LO: {'valid' if not problem else 'INVALID: ' + problem}")
    print(json.dumps(result, sort_keys=True))
    return 0 if not problem else 1
