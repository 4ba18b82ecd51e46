"""`roamline hil exchange run`: an exchange with modem simulators on ptys, until interrupted."""

from __future__ import annotations

import argparse

SUMMARY = "run a telephone exchange with simulated voice modems on pty paths (prints them as JSON)"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.hil.exchange import rig
    from roamline.wire import validate

    src = parser.add_mutually_exclusive_group()
    src.add_argument("--rig", metavar="FILE", type=validate.ExistingFile(),
                     help="TOML file: [exchange] table or top-level lines/phones")
    src.add_argument("--lines", metavar="SPEC", default=None,
                     type=validate.Parsed("--lines", rig.parse_lines, "5551000:cx93001"),
                     help="NUMBER[:MODEM[:CID_TIMING[:DISCONNECT]]],... e.g. 5551000:cx93001,5551001:usr5637")
    parser.add_argument("--phones", metavar="SPEC", default=None,
                        type=validate.Parsed("--phones", rig.parse_phones, "5550100:ANN"),
                        help="PSTN phones NUMBER[:NAME],... (a call from the control socket adds one too)")
    parser.add_argument("--time-scale", type=validate.Number(0.0, 1000.0, lo_open=True), default=None,
                        help="simulated seconds per real second")
    parser.add_argument("--device-dir", default=None, type=validate.NewDir(),
                        help="where the modem device links go")
    parser.add_argument("--control", default=None, type=validate.NewFile(overwrite=True),
                        help="control socket (default DEVICE_DIR/control.sock)")
    parser.add_argument("--calling-party-control", dest="cpc", type=validate.seconds(600.0), default=None,
                        metavar="SECONDS", help="a call stays up this long after its callee hangs up while "
                        "the caller has not (default 0: released at once)")
    parser.add_argument("--for", dest="duration", type=validate.seconds(), default=None, metavar="SECONDS",
                        help="stop after this many real seconds (default: until Ctrl-C)")


def run(args: argparse.Namespace) -> int:
    import json
    import signal
    import threading
    from pathlib import Path

    from roamline.hil.exchange import rig
    from roamline.hil.exchange.control import ControlServer

    if args.rig:
        spec = rig.load(args.rig)
    else:  # --lines was parsed and validated with the other options
        spec = rig.ExchangeSpec(lines=args.lines or rig.parse_lines("5551000:cx93001"))
    updates: dict[str, object] = {}
    if args.phones:
        updates["phones"] = spec.phones + args.phones
    if args.time_scale is not None:
        updates["time_scale"] = args.time_scale
    if args.cpc is not None:
        updates["calling_party_control_s"] = args.cpc
    if args.device_dir:
        updates["device_dir"] = str(args.device_dir)
    if args.control:
        updates["control"] = str(args.control)
    if updates:
        spec = rig.ExchangeSpec.model_validate({**spec.model_dump(), **updates})
    runner = rig.build(spec)
    control = ControlServer(runner, spec.control or Path(spec.device_dir) / "control.sock")
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    runner.start()
    control.open()
    try:
        for item in runner.describe():
            print(json.dumps(item), flush=True)
        print(json.dumps({"kind": "exchange", "control": str(control.path), "time_scale": spec.time_scale,
                          "ready": True}), flush=True)
        done.wait(args.duration)
    finally:
        control.close()
        runner.stop()
    if runner.errors:
        raise runner.errors[0]
    return 0
