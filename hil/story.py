"""The demo's story: steps that act on a running rig and check what the registry says afterwards."""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from roamline.hil.errors import PeerError
from roamline.hil.rig import load_rig
from roamline.hil.rigrun import RigRunner
from roamline.wire.civic import describe


class StepFailed(PeerError):
    """The rig did not do what the story expected of it."""


def _say(text: str = "") -> None:
    print(text, flush=True)


def _describe(entries: list[dict[str, Any]], names: dict[str, str]) -> str:
    if not entries:
        return "rings nowhere"
    return "; ".join(f"rings at {names.get(e['box_id'], e['box_id'])} ({e['box_id']}) for {e['holder']}, "
                     f"at {describe(e.get('location')) or 'an unknown location'}" for e in entries)


class Story:
    def __init__(self, rig: str, *, keep: bool = False, verbose: bool = False) -> None:
        self.spec = load_rig(rig)
        self.keep = keep
        self.verbose = verbose
        self.steps_ok = 0

    def step(self, title: str, action: Callable[[], str]) -> None:
        n = self.steps_ok + 1
        _say(f"\n[{n}] {title}")
        t0 = time.monotonic()
        try:
            detail = action()
        except Exception as exc:
            _say(f"    FAILED: {exc}")
            raise StepFailed(f"step {n} failed: {title}: {exc}") from None
        _say(f"    ok ({(time.monotonic() - t0) * 1000:.0f} ms) {detail}")
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
        _say(f"Roamline demo on rig {self.spec.name!r} (work directory {work})")
        _say(f"{card.name} belongs to {account.name}, whose follow-me number is {number}.")
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
        _say(f"\nAll {self.steps_ok} steps held.")
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
        return f"{box} read the card, the card signed the registry's nonce, registered ({ms} ms from PC/SC)"

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
