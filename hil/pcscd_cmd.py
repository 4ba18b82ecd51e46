"""`roamline hil pcscd run --dir DIR`: a private pcscd with two vpcd readers, until interrupted."""

from __future__ import annotations

import argparse

SUMMARY = "run a private pcscd with vpcd readers (virtual cards plug into their ports) until interrupted"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    parser.add_argument("--dir", required=True, type=validate.NewDir(),
                        help="working directory (socket, reader config, log)")
    parser.add_argument("--name", default="Roamline VPCD", type=validate.DisplayName(),
                        help="reader name prefix")


def run(args: argparse.Namespace) -> int:
    import json
    import signal
    import threading

    from roamline.hil.pcsc import SOCKET_ENV, PcscDaemon

    daemon = PcscDaemon(args.dir, name=args.name, die_with_parent=True)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    daemon.start()
    try:
        print(json.dumps({"env": {SOCKET_ENV: str(daemon.socket_path)},
                          "readers": [{"name": r.name, "port": r.port} for r in daemon.readers]}), flush=True)
        hint = "# for PC/SC clients (roamline box run, opensc-tool)"
        print(f"export {SOCKET_ENV}={daemon.socket_path}   {hint}", flush=True)
        while not done.wait(0.5):
            if not daemon.running:
                return 1
    finally:
        daemon.stop()
    return 0
