"""`roamline hil card serve --card FILE --port N`: a virtual PIV card in a vpcd reader until interrupted.

``--blank`` serves a factory-fresh card instead (no keys, PIN 123456, PUK 12345678, the factory management
key), to be personalised with `roamline provision card issue --reader`; ``--save FILE`` writes the card's
state as a card file when it is taken out (Ctrl-C), so the issued card can be served again.

It says the card is in only once a vpcd reader accepted the card's connection (within ``--wait``
seconds); with nothing listening on the port it fails with a one-line reason.
"""

from __future__ import annotations

import argparse

SUMMARY = "run a virtual PIV card (card file) in the vpcd reader on a port until interrupted"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--card", type=validate.ExistingFile(),
                       help="card file (TOML, see provisioning/cardfile.py)")
    which.add_argument("--blank", action="store_true", help="a blank card from the factory, to be issued")
    parser.add_argument("--save", type=validate.NewFile(), default=None,
                        help="write the card's state here as a card file when it is taken out")
    parser.add_argument("--port", required=True, type=validate.Port(base=0), help="vpcd port (e.g. 0x8c7b)")
    parser.add_argument("--host", default="127.0.0.1", type=validate.Host(), help="pcscd host (loopback)")
    parser.add_argument("--wait", type=validate.seconds(600.0), default=5.0,
                        help="seconds to wait for the reader to accept the card (default 5)")


def run(args: argparse.Namespace) -> int:
    import signal
    import threading

    from roamline.hil.card.piv import VirtualCard
    from roamline.hil.card.vpcd import CardSocket
    from roamline.hil.errors import PeerError
    from roamline.provisioning.cardfile import load_cardfile, save_cardfile

    vcard = VirtualCard.blank() if args.blank else VirtualCard(load_cardfile(args.card))
    sock = CardSocket(vcard, host=args.host)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    sock.insert(args.port)
    if not sock.connected.wait(args.wait):  # claim the insertion only once a reader took the card
        sock.remove()
        raise PeerError(f"nothing listens on {args.host}:{args.port} (no vpcd reader there: is "
                        "`roamline hil pcscd run` up, and is this one of its ports?)")
    name = "blank card" if vcard.card is None else f"card {vcard.card.card_id}"
    print(f"{name} in vpcd reader {args.host}:{args.port}; Ctrl-C removes it", flush=True)
    try:
        while not done.wait(0.5):
            if not sock.inserted:  # only a yank hook stops the thread by itself
                return 1
    finally:
        sock.remove()
    if args.save is not None:
        save_cardfile(vcard.export(), args.save)  # PeerError if the card was never issued
        print(f"card {vcard.export().card_id} saved to {args.save}", flush=True)
    return 0
