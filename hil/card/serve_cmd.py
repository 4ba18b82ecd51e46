"""`roamline hil card serve --card FILE --port N`: a virtual PIV card in a vpcd reader until interrupted."""

from __future__ import annotations

import argparse

SUMMARY = "run a virtual PIV card (card file) in the vpcd reader on a port until interrupted"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    parser.add_argument("--card", required=True, type=validate.ExistingFile(),
                        help="card file (TOML, see provisioning/cardfile.py)")
    parser.add_argument("--port", required=True, type=validate.Port(base=0), help="vpcd port (e.g. 0x8c7b)")
    parser.add_argument("--host", default="127.0.0.1", type=validate.Host(), help="pcscd host (loopback)")


def run(args: argparse.Namespace) -> int:
    import signal
    import threading

    from roamline.hil.card.piv import VirtualCard
    from roamline.hil.card.vpcd import CardSocket
    from roamline.provisioning.cardfile import load_cardfile

    card = load_cardfile(args.card)
    sock = CardSocket(VirtualCard(card), host=args.host)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    sock.insert(args.port)
    print(f"card {card.card_id} in vpcd reader {args.host}:{args.port}; Ctrl-C removes it", flush=True)
    try:
        while not done.wait(0.5):
            if not sock.inserted:  # only a yank hook stops the thread by itself
                return 1
    finally:
        sock.remove()
    return 0
