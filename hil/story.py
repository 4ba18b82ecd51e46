"""The demo's story: numbered steps that act on a running rig (real box processes, the registry, the
exchange simulator) and check what happened — at the handsets, at the exchange, in the registry.

The story (issue 9): a PSTN phone calls the holder's follow-me number while the card is in box A → A
rings with the holder's cadence and shows the caller ID → answered, voice both ways checked by content →
hang-up → the call record; the card moves to box B → the same number rings B (answered there, voice
relayed from A's line); the holder calls a PSTN number from B and the call leaves by a host line she has
rights on (A's: B's line is another holder's) → a second holder at B gets a different ring → 911 dialled
at B with no card goes out B's own line → every call has exactly one record. The holder's service (issue
10): her speed-dial #3, set while the card is in A, dials the callee from A (A's own line) and, the card
moved, from B (A's line as a host line); a filter she sets blocks the PSTN caller with a spoken refusal
at A's line while B's handset stays silent (``call.filtered``).

Each step prints ``[n] title`` and ``ok (ms) detail`` (on stderr with ``--json``, whose stdout is one
JSON event per line, ``hil.demo_events``). The first step that does not hold ends the story: the rig's
last output, then one line ``roamline demo: step n failed: …`` on stderr, exit 1.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roamline.hil.demo_events import DemoEvents
from roamline.hil.errors import PeerError
from roamline.hil.rig import AccountSpec, BoxSpec, CardSpec, PstnPhoneSpec, RigSpec, exchange_number, load_rig
from roamline.hil.rigrun import RigRunner, last_json, roamline
from roamline.hil.story_service import ServiceSteps
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


def _field(line: str, name: str) -> str:
    """A ``name=value`` field of a box's log line (values without spaces)."""
    m = re.search(rf"\b{name}=(\S+)", line)
    if m is None:
        raise StepFailed(f"no {name}= in the box's line {line!r}")
    return m.group(1)


@dataclass(frozen=True)
class Cast:
    """Who plays which part, found in the rig file (``roamline demo --rig`` may name another rig)."""

    box_a: BoxSpec
    box_b: BoxSpec
    card: CardSpec  # the roaming holder's card
    holder: AccountSpec
    card2: CardSpec  # the second holder at box B
    holder2: AccountSpec
    caller: PstnPhoneSpec  # a PSTN phone that places calls (does not answer by itself)
    callee: PstnPhoneSpec  # a PSTN phone that answers by itself
    psap: PstnPhoneSpec  # the emergency answering point (a short code)

    @property
    def number(self) -> str:
        return self.holder.numbers[0]

    @property
    def number2(self) -> str:
        return self.holder2.numbers[0]


def cast(spec: RigSpec) -> Cast:
    """The parts, or ValueError naming what the rig lacks."""
    boxes = [b for b in spec.boxes if b.line is not None and b.phone is not None]
    if len(boxes) < 2:
        raise ValueError("the rig needs two boxes with a line and a phone")
    box_a, box_b = boxes[0], boxes[1]
    if box_b.readers < 2:
        raise ValueError(f"{box_b.name} needs two card readers (two holders at once)")
    accounts = {a.name: a for a in spec.accounts}
    cards = [c for c in spec.cards if accounts[c.account].numbers]
    if not cards:
        raise ValueError("the rig needs a card whose account has a follow-me number")
    card = cards[0]
    others = [c for c in cards if c.account != card.account]
    if not others:
        raise ValueError("the rig needs a second holder's card (another account with a number)")
    phones = spec.exchange.phones if spec.exchange is not None else ()
    callers = [p for p in phones if p.number.startswith("+") and p.answer_after == 0 and not p.busy]
    callees = [p for p in phones if p.number.startswith("+") and p.answer_after > 0 and not p.busy]
    psaps = [p for p in phones if not p.number.startswith("+")]
    if not callers or not callees or not psaps:
        raise ValueError("the rig's exchange needs a PSTN phone that calls (answer_after = 0), one that "
                         "answers (answer_after > 0) and an emergency answering point (a short code)")
    return Cast(box_a, box_b, card, accounts[card.account], others[0], accounts[others[0].account],
                callers[0], callees[0], psaps[0])


class Story(ServiceSteps):
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
        self.records: set[str] = set()  # call ids of the records the story has checked
        self.names: dict[str, str] = {}  # box id -> rig name
        self._cadences: dict[str, str] = {}  # number -> the cadence it rang with last
        self._pstn_call = 0  # the exchange's id of the PSTN call in progress
        self._pstn_phone = ""  # the PSTN phone that placed it
        self._emergency_id = ""  # the box's call id of the emergency call

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
        try:
            c = cast(self.spec)
        except ValueError as exc:
            print(f"roamline demo: rig {self.spec.name!r}: {exc}", file=sys.stderr)
            return 2
        work = Path(tempfile.mkdtemp(prefix="roamline-demo-"))
        rig = RigRunner(self.spec, work)
        started = time.monotonic()
        self.say(f"Roamline demo on rig {self.spec.name!r} (work directory {work})")
        self.say(f"{c.card.name} belongs to {c.holder.name}, whose follow-me number is {c.number}; "
                 f"{c.card2.name} to {c.holder2.name} ({c.number2}).")
        try:
            self._story(rig, c)
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
        self.say(f"\nAll {self.steps_ok} steps held ({time.monotonic() - started:.0f} s).")
        return 0

    def _story(self, rig: RigRunner, c: Cast) -> None:
        a, b, number = c.box_a.name, c.box_b.name, c.number
        caller, callee = c.caller.number, c.callee.number
        assert c.box_a.line is not None and c.box_b.line is not None
        line_a, line_b = c.box_a.line.number, c.box_b.line.number
        self.step("Start the registry (SQLite, QUIC on loopback) and create the accounts",
                  lambda: self._start_cloud(rig))
        self.step("Enroll the boxes with one-time installer tokens, issue the virtual PIV cards and grant "
                  "the line rights", lambda: self._enroll(rig))
        self.names = {x.box_id: x.name for x in rig.boxes.values()}
        self.step("Start the exchange and both boxes, each with its own pcscd and vpcd readers",
                  lambda: self._start_boxes(rig))
        self.step(f"Where does {number} ring before any card is inserted?",
                  lambda: self._expect_where(rig, number, None))
        self.step(f"Insert {c.card.name} into {a}", lambda: self._insert(rig, c.card.name, a))
        self.step(f"Where does {number} ring now?", lambda: self._expect_where(rig, number, a))

        # a call at box A, through A's own host line
        self.step(f"A PSTN phone ({caller}) calls {number}: {a}'s handset rings with the holder's cadence "
                  "and shows the caller ID", lambda: self._ring(rig, c.caller, number, a))
        self.step(f"Lift {a}'s handset: the call is answered", lambda: self._answer(rig, number, a))
        self.step("Voice both ways, checked by content (a tone each way, DTMF from the PSTN phone)",
                  lambda: self._voice(rig, caller, number, a, dtmf=True))
        self.step(f"Hang up at {a}: the call ends at the exchange", lambda: self._hang_up(rig, number, a))
        self.step("The registry recorded the call once: answered, incoming on "
                  f"{a}'s line, at {a}", lambda: self._record(rig, number, route="incoming", terminal=a,
                                                               line=line_a, outcome="answered"))

        # a location speed-dial at box A: **1 reaches the nearest pizza place that delivers to A
        self.step(f"{c.holder.name} sets **1 to pizza; the registry's directory lists pizza places near "
                  f"{a} and elsewhere", lambda: self._local_setup(rig, c, callee))
        self.step(f"Dial **1 at {a}: the registry picks the nearest pizza place covering {a}'s address "
                  f"({callee}) and {a} calls it like any number", lambda: self._local_dial(rig, a, callee))
        self.step(f"Hang up at {a}; the registry recorded the **1 call once, placed at {a}",
                  lambda: self._local_done(rig, a, callee))

        # the holder's personal speed-dial, set in the registry and pushed to the box her card is in
        self.step(f"Give {c.holder.name} a speed-dial #3 → {callee} while her card is in {a}",
                  lambda: self._set_speed_dial(rig, c.holder.name, a, "3", callee))
        self.step(f"{c.holder.name} keys #3 at {a}: it dials {callee} out {a}'s own line",
                  lambda: self._speed_dial_own_line(rig, a, "3", callee, line_a))
        self.step(f"The record: own-line via {line_a}, placed at {a}, billed to {c.holder.name}",
                  lambda: self._speed_dial_record(rig, a, callee, line_a, c.holder.name))

        # the card moves: the same number rings box B
        self.step(f"Move {c.card.name} to {b}", lambda: self._insert(rig, c.card.name, b))
        self.step(f"Where does {number} ring now?", lambda: self._expect_where(rig, number, b))
        self.step(f"{a} forgot the holder when the card left", lambda: self._forgot(rig, a))
        self.step(f"{caller} calls {number} again: {a}'s line rings, and {b}'s handset rings with the "
                  "holder's cadence and the caller ID", lambda: self._ring(rig, c.caller, number, b))
        self.step(f"Lift {b}'s handset: {a} answers its line and the relay joins them, voice both ways "
                  f"({caller} ⇄ {a}'s modem ⇄ relay ⇄ {b}'s handset)",
                  lambda: self._answer(rig, number, b) + "; " + self._voice(rig, caller, number, b))
        self.step(f"{caller} hangs up: {b}'s call ends", lambda: self._far_hang_up(rig, caller, number, b))
        self.step(f"The record: answered at {b}, on {a}'s line",
                  lambda: self._record(rig, number, route="incoming", terminal=b, line=line_a,
                                       outcome="answered"))

        # an outgoing call from box B through a host line the holder has rights on
        self.step(f"{c.holder.name} at {b} calls {callee}: she has no right on {b}'s line, so it leaves "
                  f"by {a}'s ({line_a}, her right, same area code)",
                  lambda: self._call_out(rig, b, callee, line_a))
        self.step(f"Voice both ways ({b}'s handset ⇄ relay ⇄ {a}'s modem ⇄ {callee})",
                  lambda: self._voice(rig, callee, callee, b))
        self.step(f"Hang up at {b}: {a}'s line hangs up at the exchange",
                  lambda: self._hang_up_out(rig, b, callee, line_a))
        self.step(f"The record: host-line via {line_a}, placed at {b}, billed to {c.holder.name}",
                  lambda: self._record(rig, callee, route="host-line", terminal=b, line=line_a,
                                       outcome="answered", account=c.holder.name))
        self.step(f"{c.holder.name}'s #3 at {b}: her list came with the card, out {a}'s line again",
                  lambda: self._call_out(rig, b, callee, line_a, keys="#3"))
        self.step(f"Hang up at {b}", lambda: self._hang_up_out(rig, b, callee, line_a))
        self.step(f"The record: host-line via {line_a}, placed at {b} by speed-dial",
                  lambda: self._record(rig, callee, route="host-line", terminal=b, line=line_a,
                                       outcome="answered", account=c.holder.name))

        # a filter: the holder blocks the PSTN caller before any box rings
        self.step(f"{c.holder.name} blocks {caller} (`roamline cloud filters`); {caller} calls {number}: "
                  f"{a}'s line answers to say no, {b}'s handset does not ring",
                  lambda: self._filter_blocks(rig, c.holder.name, caller, number, a, b))
        self.step(f"The record: filtered on {a}'s line, rung nowhere",
                  lambda: self._filtered_record(rig, number, a, line_a))

        # a second holder at box B
        self.step(f"Insert {c.card2.name} into {b} as well ({b} has two holders now)",
                  lambda: self._insert(rig, c.card2.name, b))
        self.step(f"{caller} calls {c.number2}: {b} rings with {c.holder2.name}'s cadence, not "
                  f"{c.holder.name}'s", lambda: self._ring(rig, c.caller, c.number2, b, differ_from=number))
        self.step(f"{c.holder2.name} answers, then {caller} hangs up",
                  lambda: self._answer(rig, c.number2, b) + "; "
                  + self._far_hang_up(rig, caller, c.number2, b))
        self.step(f"The record: answered at {b}, on {b}'s own line",
                  lambda: self._record(rig, c.number2, route="incoming", terminal=b, line=line_b,
                                       outcome="answered", account=c.holder2.name))

        # the lifeline
        self.step(f"Remove both cards from {b}",
                  lambda: self._remove(rig, c.card.name, b) + "; " + self._remove(rig, c.card2.name, b))
        self.step(f"Where does {number} ring now?", lambda: self._expect_where(rig, number, None))
        self.step(f"Dial {c.psap.number} at {b} with no card: it goes out {b}'s own line at once",
                  lambda: self._emergency(rig, b, c.psap.number, line_b))
        self.step("The answering point and the caller hear each other; hang up",
                  lambda: self._emergency_voice(rig, b, c.psap.number))
        self.step(f"The record of the {c.psap.number} call reached the registry through {b}'s outbox",
                  lambda: self._record(rig, None, route="emergency", terminal=b, line=None,
                                       outcome="answered", called=c.psap.number))
        self.step("Every call has exactly one record", lambda: self._all_records(rig))

    # -- set-up -------------------------------------------------------------------------------------

    def _start_cloud(self, rig: RigRunner) -> str:
        rig.start_cloud()
        return f"registry listening on 127.0.0.1:{rig.port}"

    def _enroll(self, rig: RigRunner) -> str:
        rig.enroll_boxes()
        grants = [f"{a.name}: {', '.join(a.lines)}" for a in self.spec.accounts if a.lines]
        return (", ".join(f"{x.name}={x.box_id}" for x in rig.boxes.values())
                + ("; rights: " + "; ".join(grants) if grants else ""))

    def _start_boxes(self, rig: RigRunner) -> str:
        rig.start_boxes()
        return "the exchange's lines are the boxes' modems; both boxes are up and linked to the registry"

    # -- cards --------------------------------------------------------------------------------------

    def _insert(self, rig: RigRunner, card: str, box: str) -> str:
        previous = rig.card_place.get(card)
        marks = {x: rig.box_log_mark(x) for x in rig.boxes}
        rig.insert(card, box)
        if previous is not None:
            rig.wait_box_event(previous, "card-removed", marks[previous])
        line = rig.wait_box_event(box, "registered", marks[box])
        ms = line.split("insert_to_routable_ms=")[-1].split()[0]
        spec = next(x for x in self.spec.cards if x.name == card)
        account = next(x for x in self.spec.accounts if x.name == spec.account)
        for number in account.numbers or (None,):
            self.events.emit("card.registered", box=box, number=number, holder=account.name, card=card)
        return f"{box} read the card, the card signed the registry's nonce, registered ({ms} ms from PC/SC)"

    def _remove(self, rig: RigRunner, card: str, box: str) -> str:
        mark = rig.box_log_mark(box)
        rig.remove(card)
        rig.wait_box_event(box, "deregistered", mark)
        return f"{box} saw {card} leave, wiped the holder's data and deregistered at once"

    def _forgot(self, rig: RigRunner, box: str) -> str:
        cached = rig.box_holders(box)
        if cached:
            raise StepFailed(f"{box} still caches holders {cached}")
        why = [e.get("why") for e in rig.box_events(box, "holder-wiped")]
        if not why:
            raise StepFailed(f"{box} never wiped a holder")
        return f"its local store caches no holder (wiped: {why[-1]})"

    def _expect_where(self, rig: RigRunner, number: str, box: str | None) -> str:
        want = rig.boxes[box].box_id if box else None
        entries = rig.wait_where(number, lambda es: [e["box_id"] for e in es] == ([want] if want else []))
        got = [e["box_id"] for e in entries]
        if got != ([want] if want else []):
            raise StepFailed(f"`roamline cloud where {number}` says {got}, expected {want or 'nowhere'}")
        return f"`roamline cloud where {number}`: {_describe(entries, self.names)}"

    # -- incoming calls -------------------------------------------------------------------------------

    def _exchange_call(self, rig: RigRunner, pred: Callable[[dict[str, Any]], bool], want: str,
                       timeout: float = 20.0) -> dict[str, Any]:
        """The exchange's newest call matching ``pred``, once it is in state ``want``."""
        deadline = time.monotonic() + timeout
        while True:
            calls: list[dict[str, Any]] = [x for x in rig.exchange_status()["calls"] if pred(x)]
            if calls and calls[-1]["state"] == want:
                return calls[-1]
            if time.monotonic() > deadline:
                seen = f"{calls[-1]['state']} ({calls[-1].get('reason')})" if calls else "missing"
                raise StepFailed(f"the exchange's call is {seen}, not {want}")
            time.sleep(0.1)

    def _ring(self, rig: RigRunner, caller: PstnPhoneSpec, number: str, box: str,
              differ_from: str | None = None) -> str:
        phone = rig.handset(box)
        after = len(phone.rings())
        mark = rig.box_log_mark(box)
        self._pstn_call = rig.pstn(caller.number).call(number)["call"]
        self._pstn_phone = caller.number
        told = rig.wait_box_event(box, "call.ringing", mark, timeout=30)
        cadence = _field(told, "cadence")
        # a cadence is only known once a whole cycle has rung: us-dr2..4 have several bursts
        from roamline.board.core.cadence import CADENCES

        bursts = max(2, len(CADENCES.get(cadence, (0, 0))) // 2 + 1)
        ring = phone.wait_ring(after=after, bursts=bursts, caller_id=True, timeout=30)
        cid = ring["caller_id"] or {}
        if ring["cadence"] != cadence:
            raise StepFailed(f"{box}'s bell rang {ring['cadence_ms']} ms ({ring['cadence']}), "
                             f"the cloud asked for {cadence}")
        if not str(cid.get("number", "")).endswith(exchange_number(caller.number)[-10:]):
            raise StepFailed(f"{box} showed caller ID {cid}, expected {caller.number}")
        if caller.name is not None and cid.get("name") != caller.name:
            raise StepFailed(f"{box} showed the name {cid.get('name')!r}, expected {caller.name!r}")
        if differ_from is not None:
            other = self._cadences.get(differ_from)
            if other is None or other == cadence:
                raise StepFailed(f"{number} rang {cadence}, the same as {differ_from} ({other})")
        self._cadences[number] = cadence
        self.events.emit("call.ringing", box=box, number=number, cadence=cadence,
                         cadence_ms=ring["cadence_ms"], holder=_field(told, "holder"),
                         caller_id={"number": cid.get("number"), "name": cid.get("name")})
        return (f"rings {cadence} (measured {ring['cadence_ms']} ms); caller ID {cid.get('number')} "
                f"{cid.get('name') or ''}".rstrip())

    def _answer(self, rig: RigRunner, number: str, box: str) -> str:
        mark = rig.box_log_mark(box)
        rig.handset(box).lift()
        rig.wait_box_event(box, "call.answered", mark, timeout=10)
        call_id = self._pstn_call
        self._exchange_call(rig, lambda x: x["id"] == call_id, "connected", timeout=10)
        self.events.emit("call.answered", box=box, number=number)
        return "the host line answered: the exchange connected the PSTN phone"

    def _voice(self, rig: RigRunner, pstn: str, number: str, box: str, *, dtmf: bool = False) -> str:
        from roamline.hil.voicecheck import HandsetEnd, Probe, PstnEnd, verify

        hs = HandsetEnd(rig.handset(box), box, rig.workdir)
        ps = PstnEnd(rig.pstn(pstn), workdir=rig.workdir)
        time.sleep(0.3)  # the jitter buffers fill
        checks = [verify(ps, hs, Probe("tone", hz=1004, seconds=1.0)),
                  verify(hs, ps, Probe("tone", hz=1400, seconds=1.0))]
        if dtmf:
            checks.append(verify(ps, hs, Probe("dtmf", digits="47")))
        for ch in checks:
            if not ch.ok:
                raise StepFailed(f"{ch.kind} {ch.expected} from {ch.detail['from']} to {ch.detail['to']}: "
                                 f"heard {ch.found}")
            self.events.emit("media.verified", box=box, number=number, kind=ch.kind, expected=ch.expected,
                             found=ch.found, direction=f"{ch.detail['from']} -> {ch.detail['to']}")
        return "; ".join(f"{ch.detail['from']} → {ch.detail['to']}: {ch.found}" for ch in checks)

    def _hang_up(self, rig: RigRunner, number: str, box: str) -> str:
        mark = rig.box_log_mark(box)
        rig.handset(box).hang_up()
        rig.wait_box_event(box, "call.ended", mark, timeout=10)
        call_id = self._pstn_call
        self._exchange_call(rig, lambda x: x["id"] == call_id, "ended", timeout=15)
        rig.pstn(self._pstn_phone).hang_up()  # the caller puts the phone down after the line dropped
        self.events.emit("call.ended", box=box, number=number, reason="hangup")
        return "the PSTN phone heard the line drop"

    def _far_hang_up(self, rig: RigRunner, caller: str, number: str, box: str) -> str:
        mark = rig.box_log_mark(box)
        rig.pstn(caller).hang_up()
        line = rig.wait_box_event(box, "call.ended", mark, timeout=20)
        reason = _field(line, "reason")
        mark = rig.box_log_mark(box)
        rig.handset(box).hang_up()
        # the box tells on-hook only once the hook has stayed down past a flash: a lift before that is
        # a hook flash (on a quiet machine the next step lifts within milliseconds)
        rig.wait_box_event(box, "on-hook", mark, timeout=10)
        self.events.emit("call.ended", box=box, number=number, reason=reason)
        return f"{box} heard the far end go ({reason}) and the handset went back on hook"

    # -- an outgoing call through a host line -----------------------------------------------------------

    def _call_out(self, rig: RigRunner, box: str, callee: str, via: str, keys: str = "") -> str:
        """``keys``: what the holder keys instead of the number (a speed-dial)."""
        phone = rig.handset(box)
        mark = rig.box_log_mark(box)
        phone.lift()
        if keys:
            phone.key_dtmf(keys)
        else:
            phone.dial(callee)
        placing = rig.wait_box_event(box, "call.placing", mark, timeout=15)
        from_line, to = exchange_number(via), exchange_number(callee)
        self._exchange_call(rig, lambda x: x["caller"] == from_line and x["callee"] == to, "ringing",
                            timeout=20)
        self.events.emit("call.ringing", box=None, number=callee, via=via, at_exchange=True)
        self._exchange_call(rig, lambda x: x["caller"] == from_line and x["callee"] == to, "connected",
                            timeout=30)
        # the called party answers with a greeting: the host's modem infers the answer from the voice
        # (a POTS line in voice mode has no answer signal) and the caller is connected
        from roamline.firmware.audio.device_file import write_wav
        from roamline.hil.voicecheck import RATE, greeting

        wav = rig.workdir / "greeting.wav"
        write_wav(wav, greeting(), RATE)
        for hello in range(1, 6):  # "hello? … hello?": until the host's modem streams and hears it
            rig.pstn(callee).play(wav)
            try:
                answered = rig.wait_box_event(box, "call.answered", mark, timeout=4)
                break
            except Exception:  # ProcessFailed: not yet
                if hello == 5:
                    raise
        self.events.emit("call.answered", box=box, number=callee, via=via)
        return (f"{box} asked the cloud ({_field(placing, 'call_id')}); the exchange rang {callee} from "
                f"{via}; it answered with a greeting ({hello}×), the host's modem heard it and {box} was "
                f"connected ({_field(answered, 'number')})")

    def _hang_up_out(self, rig: RigRunner, box: str, callee: str, via: str) -> str:
        mark = rig.box_log_mark(box)
        rig.handset(box).hang_up()
        rig.wait_box_event(box, "call.ended", mark, timeout=10)
        from_line, to = exchange_number(via), exchange_number(callee)
        self._exchange_call(rig, lambda x: x["caller"] == from_line and x["callee"] == to, "ended",
                            timeout=15)
        rig.pstn(callee).hang_up()  # the called party puts the phone down too (else the next call is busy)
        self.events.emit("call.ended", box=box, number=callee, reason="hangup", via=via)
        return f"{callee} heard {via} drop"

    # -- a location speed-dial ------------------------------------------------------------------------

    def _local_setup(self, rig: RigRunner, c: Cast, pizza: str) -> str:

        point = c.box_a.point
        if point is None:
            raise StepFailed(f"{c.box_a.name} has no recorded point (the rig's `point`)")
        lat, lon = point
        csv = rig.workdir / "services.csv"
        csv.write_text("category,name,number,lat,lon,radius_m\n"
                       f"pizza,Nearby Pizza,{pizza},{lat + 0.004:.4f},{lon - 0.003:.4f},8000\n"
                       f"pizza,Far Pizza,+15550499999,{lat + 0.2:.4f},{lon:.4f},60000\n"
                       f"pizza,Small Pizza,+15550488888,{lat - 0.05:.4f},{lon:.4f},1000\n", encoding="utf-8")
        data = ("--data", str(rig.cloud_dir), "--json")
        imported = last_json(roamline("cloud", "services", "import", str(csv), *data))
        dials = last_json(roamline("cloud", "local-dials", c.holder.name, "--set", "1=pizza", *data))
        return (f"`cloud services import`: {imported['imported']} services; `cloud local-dials`: "
                f"{dials['local_dials']}")

    def _local_dial(self, rig: RigRunner, box: str, pizza: str) -> str:
        phone = rig.handset(box)
        mark = rig.box_log_mark(box)
        phone.lift()
        phone.key_dtmf("**1")  # one digit after **: decided when the interdigit time runs out
        resolved = rig.wait_box_event(box, r"local-dial\.resolved", mark, timeout=20)
        if _field(resolved, "number") != pizza:
            raise StepFailed(f"**1 resolved to {_field(resolved, 'number')}, not {pizza}")
        placing = rig.wait_box_event(box, "call.placing", mark, timeout=15)
        to = exchange_number(pizza)
        self._exchange_call(rig, lambda x: x["callee"] == to, "connected", timeout=30)
        self.events.emit("call.ringing", box=None, number=pizza, code="**1", placed_at=box, at_exchange=True)
        return (f"resolved to {pizza} at {_field(resolved, 'distance_m')} m; {box} placed "
                f"{_field(placing, 'call_id')}; the exchange connected it")

    def _local_done(self, rig: RigRunner, box: str, pizza: str) -> str:
        mark = rig.box_log_mark(box)
        rig.handset(box).hang_up()
        rig.wait_box_event(box, "call.ended", mark, timeout=15)
        rig.pstn(pizza).hang_up()
        self.events.emit("call.ended", box=box, number=pizza, reason="hangup")
        deadline = time.monotonic() + 20
        while True:
            fresh = [r for r in rig.calls(pizza)
                     if r["call_id"] not in self.records and r["state"] == "closed"]
            if fresh:
                break
            if time.monotonic() > deadline:
                raise StepFailed(f"no closed record for {pizza}")
            time.sleep(0.3)
        rec = fresh[-1]
        if rec["terminal_box"] != rig.boxes[box].box_id:
            raise StepFailed(f"record {rec['call_id']} was placed at {rec['terminal_box']}, not {box}")
        self.records.add(rec["call_id"])
        return (f"`roamline cloud calls`: {rec['call_id']} {rec['caller'] or 'unknown'} → {rec['called']} "
                f"[{rec['route']}] {rec['outcome']}")

    # -- the lifeline ---------------------------------------------------------------------------------

    def _emergency(self, rig: RigRunner, box: str, code: str, line: str) -> str:
        phone = rig.handset(box)
        mark = rig.box_log_mark(box)
        phone.lift()
        phone.key_dtmf(code)  # returns once the last key has been played
        keyed = time.monotonic()
        told = rig.wait_box_event(box, r"emergency\.dialled", mark, timeout=10)
        from_line = exchange_number(line)

        def ours(x: dict[str, Any]) -> bool:
            return bool(x["caller"] == from_line and x["callee"] == code)

        deadline = time.monotonic() + 10
        while not any(ours(x) for x in rig.exchange_status()["calls"]):
            if time.monotonic() > deadline:
                raise StepFailed(f"the exchange saw no call {from_line} → {code}")
            time.sleep(0.05)
        ms = (time.monotonic() - keyed) * 1000
        seen = self._exchange_call(rig, ours, "connected", timeout=15)
        dialled = rig.wait_box_event(box, r"line\.dialled .*use=emergency", mark, timeout=15)
        if "bridged=True" not in dialled:
            raise StepFailed(f"{box} dialled {code} but cannot bridge its handset to the line: {dialled}")
        self._emergency_id = _field(told, "call_id")
        address = self._emergency_address(rig, self._emergency_id)
        self.events.emit("emergency.dialled", box=box, number=code, line=line, route=_field(told, "route"),
                         exchange={"caller": seen["caller"], "callee": seen["callee"]}, card=None,
                         address=address)
        return (f"the exchange saw {from_line} → {code} {ms:.0f} ms after the last key (no inter-digit "
                f"wait), and the answering point answered; the emergency record gives {box}'s address: "
                f"{address}")

    @staticmethod
    def _emergency_address(rig: RigRunner, call_id: str, timeout: float = 15.0) -> str:
        """The civic address in the registry's emergency record of ``call_id`` (the one the contacts'
        notification carries), once the box's outbox delivered its report."""
        deadline = time.monotonic() + timeout
        while True:
            out = roamline("cloud", "emergencies", "--data", str(rig.cloud_dir), "--json")
            found = [r for r in last_json(out) if r.get("call_id") == call_id]
            if found:
                address = describe(found[-1].get("location"))
                if not address:
                    raise StepFailed(f"the emergency record of {call_id} has no civic address")
                return address
            if time.monotonic() > deadline:
                raise StepFailed(f"no emergency record of {call_id} after {timeout:.0f} s")
            time.sleep(0.3)

    def _emergency_voice(self, rig: RigRunner, box: str, code: str) -> str:
        from roamline.hil.voicecheck import HandsetEnd, Probe, PstnEnd, verify

        hs = HandsetEnd(rig.handset(box), box, rig.workdir)
        ps = PstnEnd(rig.pstn(code), name=f"answering point {code}", workdir=rig.workdir)
        time.sleep(0.3)
        checks = [verify(hs, ps, Probe("tone", hz=1400, seconds=1.0)),
                  verify(ps, hs, Probe("tone", hz=1004, seconds=1.0))]
        for ch in checks:
            if not ch.ok:
                raise StepFailed(f"{ch.kind} {ch.expected} from {ch.detail['from']} to {ch.detail['to']}: "
                                 f"heard {ch.found}")
            self.events.emit("media.verified", box=box, number=code, kind=ch.kind, expected=ch.expected,
                             found=ch.found, direction=f"{ch.detail['from']} -> {ch.detail['to']}")
        mark = rig.box_log_mark(box)
        rig.handset(box).hang_up()
        rig.wait_box_event(box, "call.ended", mark, timeout=10)
        self.events.emit("call.ended", box=box, number=code, reason="hangup")
        return "; ".join(f"{ch.detail['from']} → {ch.detail['to']}: {ch.found}" for ch in checks)

    # -- call records -----------------------------------------------------------------------------------

    def _record(self, rig: RigRunner, number: str | None, *, route: str, terminal: str, line: str | None,
                outcome: str, account: str | None = None, called: str | None = None,
                timeout: float = 20.0) -> str:
        """The newest record the story has not checked yet, for ``number`` (or any), once closed (and,
        for ``emergency``, once the box's outbox delivered it)."""
        deadline = time.monotonic() + timeout
        while True:
            fresh = [r for r in rig.calls(number) if r["call_id"] not in self.records
                     and (called is None or r["called"] == called)]
            if route == "emergency":
                fresh = [r for r in fresh if r["call_id"] == self._emergency_id]
            rec = fresh[-1] if fresh else None
            if rec is not None and rec["state"] == "closed":
                break
            if time.monotonic() > deadline:
                raise StepFailed(f"no closed record {'for ' + number if number else ''} "
                                 f"(newest unseen: {rec})")
            time.sleep(0.3)
        want_box = rig.boxes[terminal].box_id
        problems = [f"{k} is {got!r}, expected {exp!r}" for k, got, exp in (
            ("route", rec["route"], route), ("outcome", rec["outcome"], outcome),
            ("terminal_box", rec["terminal_box"], want_box), ("line", rec["line"], line),
        ) if got != exp]
        if account is not None and rec["account_id"] != account:
            problems.append(f"account_id is {rec['account_id']!r}, expected {account!r}")
        if outcome == "answered" and not (rec["duration_s"] or 0) > 0:
            problems.append(f"duration_s is {rec['duration_s']}")
        if problems:
            raise StepFailed(f"record {rec['call_id']}: " + "; ".join(problems))
        self.records.add(rec["call_id"])
        host = self.names.get(rec["host_box"] or "", rec["host_box"])
        self.events.emit("cdr.recorded", box=terminal, number=rec["called"], call_id=rec["call_id"],
                         route=rec["route"], line=rec["line"], host_box=host, caller=rec["caller"],
                         outcome=rec["outcome"], duration_s=rec["duration_s"],
                         answer_inferred=rec["answer_inferred"], account=rec["account_id"])
        via = f" via {rec['line']}" if rec["line"] else ""
        inferred = " (answer inferred)" if rec["answer_inferred"] else ""
        return (f"`roamline cloud calls`: {rec['call_id']} {rec['caller'] or 'unknown'} → {rec['called']} "
                f"[{rec['route']}{via}] {rec['outcome']} at {terminal}, {rec['duration_s']:.1f} s{inferred}")

    def _all_records(self, rig: RigRunner) -> str:
        recs = rig.calls()
        ids = [r["call_id"] for r in recs]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup or set(ids) != self.records:
            raise StepFailed(f"records {sorted(ids)}, the story made {sorted(self.records)}"
                             + (f" (twice: {dup})" if dup else ""))
        still_open = [r["call_id"] for r in recs if r["state"] != "closed"]
        if still_open:
            raise StepFailed(f"records still open: {still_open}")
        return f"{len(ids)} calls, {len(ids)} records, all closed"

    def _dump(self, rig: RigRunner) -> None:
        procs = [rig.registry] if rig.registry else []
        procs += [x.process for x in rig.boxes.values()]
        if rig.exchange is not None:
            procs.append(rig.exchange)
        for p in procs:
            print(f"--- last output of {p.name} ---", file=sys.stderr)
            for line in p.output()[-25:]:
                print(line, file=sys.stderr)
