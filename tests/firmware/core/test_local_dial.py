"""Location speed-dials (**1, 311) on the manual-clock core: the registry is asked which local service the
code reaches, the call is placed to it like any other number, and every reason it cannot be is spoken."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from roamline.firmware.card.events import CardInserted
from roamline.firmware.core import events as ev
from roamline.firmware.core.box import BoxCore, CoreConfig
from roamline.firmware.dialplan import Classifier, load_plan
from roamline.firmware.handset.events import Digit, OffHook, OnHook
from roamline.firmware.line import events as line_ev
from roamline.wire import messages
from roamline.wire.local_services import Outcome, ServiceResolve, ServiceResolved
from roamline.wire.messages import NoncePurpose

BOX = "b" * 32
CARD = "c" * 32
LUIGI = "+12175550101"


class Rig:
    def __init__(self, *, link: bool = True, card: bool = True) -> None:
        self.t = 100.0
        ids = (f"call-{i:04d}" for i in itertools.count())
        self.core = BoxCore(
            CoreConfig(box_id=BOX, has_line=True, line_can_bridge=True, line_number="+12175551000"),
            Classifier(load_plan("US"), line_number="+12175551000"), self.t, new_id=lambda: next(ids))
        self.do(ev.LinkUp(BOX))
        if card:
            self.register()
        if not link:
            self.do(ev.LinkDown("gone"))

    def do(self, event: Any) -> list[ev.Action]:
        return self.core.handle(event, self.t)

    def tick(self, s: float) -> list[ev.Action]:
        self.t += s
        return self.core.poll(self.t)

    def keys(self, digits: str) -> list[ev.Action]:
        out: list[ev.Action] = []
        for k in digits:
            self.t += 0.2
            out += self.do(Digit(self.t, k, "dtmf"))
        return out

    def register(self) -> None:
        (read,) = [a for a in self.do(CardInserted(at=self.t, reader="R0", atr=b""))
                   if isinstance(a, ev.ReadCard)]
        (req,) = [a for a in self.do(ev.CardRead("R0", read.gen, CARD, "PEM")) if isinstance(a, ev.Request)]
        issued = messages.NonceIssued(nonce=bytes(32), expires_in=30, purpose=NoncePurpose.REGISTER)
        self.do(ev.Reply(req.key, issued))
        (reg,) = [a for a in self.do(ev.CardSigned("R0", read.gen, b"sig")) if isinstance(a, ev.Request)]
        self.do(ev.Reply(reg.key, messages.Registered(
            registration_id="r-1", card_id=CARD, account="acct", holder="Ann", numbers=("+15550100001",),
            profile={}, lease_s=30, seq=1)))

    def ask(self, dialled: str) -> ev.Request:
        """Lift, key ``dialled`` (and wait out the interdigit time for a one-digit **N): the request."""
        self.do(OffHook(self.t))
        out = self.keys(dialled)
        if not any(isinstance(a, ev.Request) for a in out):
            out += self.tick(5.0)
        [req] = [a for a in out if isinstance(a, ev.Request) and isinstance(a.message, ServiceResolve)]
        return req


def kinds(actions: list[ev.Action], t: type) -> list[Any]:
    return [a for a in actions if isinstance(a, t)]


@pytest.mark.parametrize("dialled", ["**1", "**12", "311", "411"])
def test_the_code_is_asked_of_the_registry_and_the_answer_placed_as_a_number(dialled: str) -> None:
    r = Rig()
    req = r.ask(dialled)
    assert req.message == ServiceResolve(card_id=CARD, code=dialled)
    out = r.do(ev.Reply(req.key, ServiceResolved(code=dialled, outcome=Outcome.RESOLVED, number=LUIGI,
                                                 name="Luigi's", category="pizza", distance_m=140.0)))
    [place] = [a for a in out if isinstance(a, ev.CallSignal) and a.kind == "call.place"]
    assert place.fields == {"card_id": CARD, "number": LUIGI}
    assert r.core.phone.state.value == "routing" and r.core.active is not None
    assert r.core.active.number == LUIGI


@pytest.mark.parametrize(("outcome", "prompt"), [
    (Outcome.NO_CODE, "local-no-code"), (Outcome.NO_LOCATION, "local-no-location"),
    (Outcome.NO_SERVICE, "local-no-service"), (Outcome.NO_CARD, "refused-unknown-card"),
])
def test_an_unresolvable_code_gives_reorder_and_a_spoken_reason(outcome: Outcome, prompt: str) -> None:
    r = Rig()
    req = r.ask("**1")
    out = r.do(ev.Reply(req.key, ServiceResolved(code="**1", outcome=outcome, category="pizza")))
    assert kinds(out, ev.PlayPrompt) == [ev.PlayPrompt(prompt)]
    assert ev.PlayTone("reorder") in out and not kinds(out, ev.CallSignal)
    assert r.core.phone.state.value == "failed"


def test_the_registry_unreachable_or_refusing_is_spoken_too() -> None:
    r = Rig()
    req = r.ask("311")
    out = r.do(ev.RequestFailed(req.key, "timeout", unreachable=True))
    assert kinds(out, ev.PlayPrompt) == [ev.PlayPrompt("cloud-unreachable")]
    r.do(OnHook(r.t))
    req = r.ask("311")
    out = r.do(ev.RequestFailed(req.key, "forbidden", unreachable=False))
    assert kinds(out, ev.PlayPrompt) == [ev.PlayPrompt("refused")]


def test_without_a_card_or_the_cloud_nothing_is_asked() -> None:
    r = Rig(card=False)
    r.do(OffHook(r.t))
    out = r.keys("311")
    assert kinds(out, ev.PlayPrompt) == [ev.PlayPrompt("insert-card")] and not kinds(out, ev.Request)
    r = Rig(link=False)
    r.do(OffHook(r.t))
    out = r.keys("411")
    assert kinds(out, ev.PlayPrompt) == [ev.PlayPrompt("cloud-unreachable")] and not kinds(out, ev.Request)


def test_an_answer_after_the_handset_moved_on_is_ignored_and_911_meanwhile_dials() -> None:
    r = Rig()
    req = r.ask("**1")
    out = r.keys("911")  # while the registry thinks
    assert ev.LineDo("dial", "911") in out
    late = r.do(ev.Reply(req.key, ServiceResolved(code="**1", outcome=Outcome.RESOLVED, number=LUIGI)))
    assert not kinds(late, ev.CallSignal) and not kinds(late, ev.PlayPrompt)
    assert r.core.active is not None and r.core.active.route == "emergency"
    r.do(OnHook(r.t))
    req = r.ask("**1")
    r.do(OnHook(r.t))  # hung up before the answer came
    late = r.do(ev.Reply(req.key, ServiceResolved(code="**1", outcome=Outcome.RESOLVED, number=LUIGI)))
    assert not kinds(late, ev.CallSignal) and r.core.phone.state.value == "idle"


def _own_line_call(r: Rig) -> str:
    req = r.ask("**1")
    out = r.do(ev.Reply(req.key, ServiceResolved(code="**1", outcome=Outcome.RESOLVED, number=LUIGI)))
    [place] = [a for a in out if isinstance(a, ev.CallSignal) and a.kind == "call.place"]
    out = r.do(ev.Progress(place.call_id, "own-line"))  # the cloud chose the box's own line
    assert kinds(out, ev.LineDo) == [ev.LineDo("dial", "12175550101")]
    r.do(ev.LineOpDone("dial", True))
    return place.call_id


def test_an_own_line_call_the_cloud_placed_is_told_ended_when_the_handset_hangs_up() -> None:
    """The router holds such a call's record open until the box says it ended (else it stays open)."""
    r = Rig()
    call_id = _own_line_call(r)
    out = r.do(OnHook(r.t))
    hangups = [a for a in out if isinstance(a, ev.CallSignal) and a.kind == "call.hangup"]
    assert [(h.call_id, h.fields) for h in hangups] == [(call_id, {"reason": "hangup"})]


def test_an_own_line_call_the_cloud_placed_is_told_ended_when_the_far_end_hangs_up() -> None:
    r = Rig()
    call_id = _own_line_call(r)
    out = r.do(line_ev.CallEnded("far-end"))
    hangups = [a for a in out if isinstance(a, ev.CallSignal) and a.kind == "call.hangup"]
    assert [(h.call_id, h.fields) for h in hangups] == [(call_id, {"reason": "far-end"})]
    assert not [a for a in r.do(OnHook(r.t)) if isinstance(a, ev.CallSignal)]  # told once
