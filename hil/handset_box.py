"""A tiny box-like process: the firmware's handset runner on the simulated handset backend, no more.

For testing the attached phone across a process boundary before (and besides) the whole ``roamline box
run``: it builds the handset controller and runner from the sim board profile as a box does, with the
handset backend the box configuration names (``sim``) found through ``firmware.backends``, prints
each handset event as a JSON line on stdout, and does what a box's call control would do in the simplest way:

- ``--ring CADENCE`` rings once it is up (``--cid-number``/``--cid-name`` send caller ID with it);
- a lift that is not an answer hears dial tone (the controller's own dial tone);
- a lift that answers the ring hears ``--voice-hz`` (a steady tone standing in for the far end).

Run it as ``python -m roamline.hil.handset_box --control PATH``; it stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import threading
from typing import Any

import numpy as np

from roamline.board.gpio import SlicPins
from roamline.board.profile import load_profile
from roamline.firmware.backends import BackendContext, chosen, factory
from roamline.firmware.callerid.codec import CallerId
from roamline.firmware.config import BoxConfig, HandsetConfig
from roamline.firmware.handset.audio import WORK_RATE
from roamline.firmware.handset.controller import HandsetController
from roamline.firmware.handset.events import HandsetEvent, OffHook
from roamline.firmware.handset.ports import DtmfDigits, FskCallerId, PlanTones
from roamline.firmware.handset.runner import HandsetRunner
from roamline.wire.clock import SystemClock


class SineSource:
    """An endless sine (the stand-in far end)."""

    def __init__(self, hz: float, rate: int, level: float = 8000.0) -> None:
        self.hz, self.rate, self.level, self._n = hz, rate, level, 0

    @property
    def finished(self) -> bool:
        return False

    def read(self, n: int) -> Any:
        t = (self._n + np.arange(n)) / self.rate
        self._n += n
        return np.round(self.level * np.sin(2 * np.pi * self.hz * t)).astype(np.int16)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m roamline.hil.handset_box",
                                 description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--control", required=True, help="the phone's control socket path")
    ap.add_argument("--backend", default="sim", help="handset backend name (entry point)")
    ap.add_argument("--country", default="US")
    ap.add_argument("--rate", type=int, default=None, help="handset audio device rate (default: profile's)")
    ap.add_argument("--ring", default=None, metavar="CADENCE", help="ring at start (us, us-dr2, uk ...)")
    ap.add_argument("--ring-cycles", type=int, default=0)
    ap.add_argument("--cid-number", default=None)
    ap.add_argument("--cid-name", default=None)
    ap.add_argument("--voice-hz", type=float, default=1000.0, help="far-end tone after an answer")
    args = ap.parse_args(argv)

    profile = load_profile("sim")
    if args.rate:
        profile = dataclasses.replace(profile, handset_audio=dataclasses.replace(profile.handset_audio,
                                                                                rate=args.rate))
    clock = SystemClock()
    config = BoxConfig(name="handset-box", country=args.country,
                       handset=HandsetConfig(backend=args.backend, options={"control": args.control}))
    backend = factory("handset", chosen("handset", config, profile))(BackendContext(config, profile, clock))
    controller = HandsetController(profile.hook_timing, profile.slic.ring_hz, WORK_RATE, clock.monotonic(),
                                   tones=PlanTones(args.country, WORK_RATE), detector=DtmfDigits(WORK_RATE),
                                   caller_id=FskCallerId(args.country), dial_tone=True)
    runner: HandsetRunner | None = None

    def on_event(e: HandsetEvent) -> None:
        fields = {f.name: getattr(e, f.name) for f in dataclasses.fields(e)}
        print(json.dumps({"event": type(e).__name__, **fields}, default=str), flush=True)
        if isinstance(e, OffHook) and e.answered and runner is not None:
            runner.set_voice(SineSource(args.voice_hz, WORK_RATE))

    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    backend.open()
    runner = HandsetRunner(controller, SlicPins(profile, backend.pin_factory), clock, on_event,
                           audio=backend.audio)
    try:
        runner.start()
        if args.ring:
            cid = CallerId(number=args.cid_number, name=args.cid_name) if args.cid_number or args.cid_name \
                else None
            runner.ring(args.ring, cycles=args.ring_cycles, caller_id=cid)
        print(json.dumps({"state": "running", "control": args.control}), flush=True)
        done.wait()
    finally:
        runner.close()
        backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
