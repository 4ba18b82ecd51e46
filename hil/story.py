"""The demo's story: steps that act on a running rig and check what the registry says afterwards."""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from roamline.hil.demo_events import DemoEvents
from roamline.hil.errors import PeerError
from roamline.hil.rig import load_rig
from roamline.hil.rigrun import RigRunner
from roamline.wire.civic import describe


class StepFailed(PeerError):
    """The rig did not do what the story expected of it."""


def _say(text: str = "", *, err: bool = False) -> None:
    print(text, flush=True, file=sys.stderr if err else sys.stdout)


def _describe(entries: list[dict[str, Any]], names: dict[str, str]) -> str:
    if not entries:
        return "rings nowhere"
    return "; ".join(f"rings at {names.get(e['box_id'], e['box_id'])} ({e['box_id']}) for {e['holder']}, "
                     f"at {describe(e.get('location')) or 'an unknown location'}" for e in entries)


class Story:
    def __init__(self, rig: str, *, keep: bool = False, verbose: bool = False, json_events: bool = False
                 ) -> None:
        """``json_events``: print the story as JSON events on stdout (``hil.demo_events``), the
        numbered steps on stderr."""
        self.spec = load_rig(rig)
        self.keep = keep
        self.verbose = verbose
        self.steps_ok = 0
        self.json = json_events
        self.events = DemoEvents(sys.stdout if json_events else None)

    def say(self, text: str = "") -> None:
        _say(text, err=self.json)

    def step(self, title: str, action: Callable[[], str]) -> None:
        n = self.steps_ok + 1
        self.say(f"\n[{n}] {title}")
        t0 = time.monotonic()
        try:
            detail = action()
        except Exception as exc:
            self.say(f"    FAILED: {exc}")
            raise StepFailed(f"step {n} failed: {title}: {exc}") from None
        self.say(f"    ok ({(time.monotonic() - t0) * 1000:.0f} ms) {detail}")
        self.steps_ok += 1

    def run(self) -> int:
        if len(self.spec.boxes) < 2 or not self.spec.cards or not self.spec.accounts:
            print("roamline demo: the rig needs two boxes, a card and an account", file=sys.stderr)
            return 2
        work = Path(tempfile.mkdtemp(prefix="roamline-demo-"))
        rig = RigRunner(self.spec, work)
        card = self.spec.cards[0]
        account = next(a for a in self.spec.accounts if a.name == card.account)
        number = account.numbers[0]
        box_a, box_b = self.spec.boxes[0].name, self.spec.boxes[1].name
        self.say(f"Roamline demo on rig {self.spec.name!r} (work directory {work})")
        self.say(f"{card.name} belongs to {account.name}, whose follow-me number is {number}.")
        try:
            self.step("Start the registry (SQLite, QUIC on loopback) and create the accounts",
                      lambda: self._start_cloud(rig))
            self.step("Enroll the boxes with one-time installer tokens and issue the virtual PIV card",
                      lambda: self._enroll(rig))
            names = {b.box_id: b.name for b in rig.boxes.values()}
            self.step("Start both boxes, each with its own pcscd and vpcd reader",
                      lambda: self._start_boxes(rig))
            self.step(f"Where does {number} ring before any card is inserted?",
                      lambda: self._expect_where(rig, number, None, names))
            self.step(f"Insert {card.name} into {box_a}", lambda: self._insert(rig, card.name, box_a))
            self.step(f"Where does {number} ring now?", lambda: self._expect_where(rig, number, box_a, names))
            caller = self._pstn_caller(box_a)
            if caller is not None:
                self.step(f"A PSTN phone ({caller}) calls {number}: {box_a}'s handset rings with the "
                          "holder's cadence and shows the caller ID",
                          lambda: self._ring(rig, caller, number, box_a))
                self.step(f"Lift {box_a}'s handset: the call is answered",
                          lambda: self._answer(rig, number, box_a))
                self.step("Voice both ways, checked by content (a tone each way, DTMF from the PSTN phone)",
                          lambda: self._voice(rig, caller, number, box_a))
                self.step(f"Hang up at {box_a}: the call ends at the exchange",
                          lambda: self._hang_up(rig, number, box_a))
            self.step(f"Move {card.name} to {box_b}", lambda: self._insert(rig, card.name, box_b))
            self.step(f"Where does {number} ring now?", lambda: self._expect_where(rig, number, box_b, names))
            self.step(f"{box_a} forgot the holder when the card left", lambda: self._forgot(rig, box_a))
            self.step(f"Remove {card.name} from {box_b}", lambda: self._remove(rig, card.name, box_b))
            self.step(f"Where does {number} ring now?", lambda: self._expect_where(rig, number, None, names))
        except StepFailed as exc:
            self._dump(rig)
            print(f"roamline demo: {exc}", file=sys.stderr)
            return 1
        finally:
            if self.verbose:
                self._dump(rig)
            rig.stop()
            if not self.keep:
                shutil.rmtree(work, ignore_errors=True)
        self.say(f"\nAll {self.steps_ok} steps held.")
        return 0

    def _start_cloud(self, rig: RigRunner) -> str:
        rig.start_cloud()
        return f"registry listening on 127.0.0.1:{rig.port}"

    def _enroll(self, rig: RigRunner) -> str:
        rig.enroll_boxes()
        return ", ".join(f"{b.name}={b.box_id}" for b in rig.boxes.values())

    def _start_boxes(self, rig: RigRunner) -> str:
        rig.start_boxes()
        return "both boxes are up and linked to the registry"

    def _insert(self, rig: RigRunner, card: str, box: str) -> str:
        previous = rig.card_place.get(card)
        marks = {b: rig.box_log_mark(b) for b in rig.boxes}
        rig.insert(card, box)
        if previous is not None:
            rig.wait_box_event(previous, "card-removed", marks[previous])
        line = rig.wait_box_event(box, "registered", marks[box])
        ms = line.split("insert_to_routable_ms=")[-1].split()[0]
        spec = next(c for c in self.spec.cards if c.name == card)
        account = next(a for a in self.spec.accounts if a.name == spec.account)
        for number in account.numbers or (None,):
            self.events.emit("card.registered", box=box, number=number, holder=account.name, card=card)
        return f"{box} read the card, the card signed the registry's nonce, registered ({ms} ms from PC/SC)"

    # -- a call (when the rig has an exchange with a PSTN phone and box A has an attached handset) ----

    def _pstn_caller(self, box: str) -> str | None:
        ex = self.spec.exchange
        if ex is None or not ex.phones or self.spec.box(box).phone is None:
            return None
        return ex.phones[0].number

    def _call_state(self, rig: RigRunner, want: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            calls = rig.exchange_status()["calls"]
            if calls and calls[-1]["state"] == want:
                return
            if time.monotonic() > deadline:
                raise StepFailed(f"the exchange's call is {calls[-1]['state'] if calls else 'missing'}, "
                                 f"not {want}")
            time.sleep(0.1)

    def _ring(self, rig: RigRunner, caller: str, number: str, box: str) -> str:
        phone = rig.handset(box)
        after = phone.status()["rings"]
        rig.pstn(caller).call(number)
        ring = phone.wait_ring(after=after, bursts=2, caller_id=True, timeout=30)
        cid = ring["caller_id"] or {}
        self.events.emit("call.ringing", box=box, number=number, cadence=ring["cadence"],
                         cadence_ms=ring["cadence_ms"], caller_id={"number": cid.get("number"),
                                                                   "name": cid.get("name")})
        return (f"rings {ring['cadence'] or ring['cadence_ms']} (measured {ring['cadence_ms']} ms); "
                f"caller ID {cid.get('number')} {cid.get('name') or ''}".rstrip())

    def _answer(self, rig: RigRunner, number: str, box: str) -> str:
        rig.handset(box).lift()
        self._call_state(rig, "connected")
        self.events.emit("call.answered", box=box, number=number)
        return "the exchange connected the PSTN phone to the host line"

    def _voice(self, rig: RigRunner, caller: str, number: str, box: str) -> str:
        from roamline.hil.voicecheck import HandsetEnd, Probe, PstnEnd, verify

        hs = HandsetEnd(rig.handset(box), box, rig.workdir)
        ps = PstnEnd(rig.pstn(caller), workdir=rig.workdir)
        checks = [verify(ps, hs, Probe("tone", hz=1004, seconds=1.0)),
                  verify(hs, ps, Probe("tone", hz=1400, seconds=1.0)),
                  verify(ps, hs, Probe("dtmf", digits="47"))]
        for c in checks:
            if not c.ok:
                raise StepFailed(f"{c.kind} {c.expected} from {c.detail['from']} to {c.detail['to']}: "
                                 f"heard {c.found}")
            self.events.emit("media.verified", box=box, number=number, kind=c.kind, expected=c.expected,
                             found=c.found, direction=f"{c.detail['from']} -> {c.detail['to']}")
        return "; ".join(f"{c.detail['from']} → {c.detail['to']}: {c.found}" for c in checks)

    def _hang_up(self, rig: RigRunner, number: str, box: str) -> str:
        rig.handset(box).hang_up()
        self._call_state(rig, "ended")
        self.events.emit("call.ended", box=box, number=number, reason="hangup")
        return "the PSTN phone heard the line drop"

    def _remove(self, rig: RigRunner, card: str, box: str) -> str:
        mark = rig.box_log_mark(box)
        rig.remove(card)
        rig.wait_box_event(box, "deregistered", mark)
        return f"{box} saw the card leave, wiped the holder's data and deregistered at once"

    def _forgot(self, rig: RigRunner, box: str) -> str:
        cached = rig.box_holders(box)
        if cached:
            raise StepFailed(f"{box} still caches holders {cached}")
        why = [e.get("why") for e in rig.box_events(box, "holder-wiped")]
        if not why:
            raise StepFailed(f"{box} never wiped a holder")
        return f"its local store caches no holder (wiped: {why[-1]})"

    def _expect_where(self, rig: RigRunner, number: str, box: str | None, names: dict[str, str]) -> str:
        want = rig.boxes[box].box_id if box else None
        entries = rig.wait_where(number, lambda es: [e["box_id"] for e in es] == ([want] if want else []))
        got = [e["box_id"] for e in entries]
        if got != ([want] if want else []):
            raise StepFailed(f"`roamline cloud where {number}` says {got}, expected {want or 'nowhere'}")
        return f"`roamline cloud where {number}`: {_describe(entries, names)}"

    def _dump(self, rig: RigRunner) -> None:
        procs = [rig.registry] if rig.registry else []
        procs += [b.process for b in rig.boxes.values()]
        for p in procs:
            print(f"--- last output of {p.name} ---", file=sys.stderr)
            for line in p.output()[-25:]:
                print(line, file=sys.stderr)
