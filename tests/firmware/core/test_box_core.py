"""The box core on a manual clock: card roaming, call control, the lifeline — no I/O at all."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.firmware.callerid.codec import CallerId
from roamline.firmware.card.events import CardInserted, CardRemoved
from roamline.firmware.core import events as ev
from roamline.firmware.core import linkcalls
from roamline.firmware.core.box import SOS_RETRY_S, BoxCore, CoreConfig
from roamline.firmware.core.calls import IllegalTransition, Phone, PhoneTable, Trig
from roamline.firmware.dialplan import Classifier, load_plan
from roamline.firmware.handset.events import Digit, HookFlash, OffHook, OnHook
from roamline.firmware.line import events as line_ev
from roamline.wire import messages, signing
from roamline.wire.clock import ManualClock
from roamline.wire.emergency import EMERGENCY_CALL_KIND, check_report
from roamline.wire.messages import NoncePurpose, RevokedKind

BOX = "b" * 32
CARDS = ["c" * 32, "d" * 32]


class Rig:
    """A core plus the manual clock; ``do`` feeds an event and keeps every action."""

    def __init__(self, *, has_line: bool = True, bridge: bool = True, country: str = "US") -> None:
        self.clock = ManualClock()
        ids = (f"call-{i:04d}" for i in itertools.count())
        self.core = BoxCore(
            CoreConfig(box_id=BOX, has_line=has_line, line_can_bridge=bridge, line_number="+12175551000"),
            Classifier(load_plan(country), line_number="+12175551000"),
            self.clock.monotonic(),
            new_id=lambda: next(ids),
        )
        self.actions: list[ev.Action] = []

    @property
    def now(self) -> float:
        return self.clock.monotonic()

    def do(self, event: Any) -> list[ev.Action]:
        out = self.core.handle(event, self.now)
        self.actions += out
        return out

    def tick(self, s: float) -> list[ev.Action]:
        self.clock.advance(s)
        out = self.core.poll(self.now)
        self.actions += out
        return out

    def register(self, reader: str, card_id: str, profile: dict[str, Any] | None = None) -> None:
        """Walk one card through insert → read → nonce → sign → register (link must be up)."""
        (read,) = [
            a
            for a in self.do(CardInserted(at=self.now, reader=reader, atr=b""))
            if isinstance(a, ev.ReadCard)
        ]
        (req,) = [
            a for a in self.do(ev.CardRead(reader, read.gen, card_id, "PEM")) if isinstance(a, ev.Request)
        ]
        assert isinstance(req.message, messages.NonceRequest)
        assert req.message.purpose is NoncePurpose.REGISTER
        nonce = bytes(32)
        (sign,) = [
            a
            for a in self.do(
                ev.Reply(
                    req.key, messages.NonceIssued(nonce=nonce, expires_in=30, purpose=NoncePurpose.REGISTER)
                )
            )
            if isinstance(a, ev.SignCard)
        ]
        assert sign.digest == signing.registration_digest(nonce, BOX, card_id)
        (reg,) = [a for a in self.do(ev.CardSigned(reader, read.gen, b"sig")) if isinstance(a, ev.Request)]
        assert isinstance(reg.message, messages.Register) and reg.message.signature == b"sig"
        out = self.do(
            ev.Reply(
                reg.key,
                messages.Registered(
                    registration_id=f"r-{card_id[:4]}",
                    card_id=card_id,
                    account="acct",
                    holder=f"holder-{reader}",
                    numbers=("+15550100001",),
                    profile=profile or {},
                    lease_s=30,
                    seq=1,
                ),
            )
        )
        assert any(isinstance(a, ev.CacheHolder) and a.card_id == card_id for a in out)

    def digits(self, keys: str) -> list[ev.Action]:
        out: list[ev.Action] = []
        for k in keys:
            self.clock.advance(0.2)
            out += self.do(Digit(self.now, k, "dtmf"))
        return out


def cid(number: str, name: str) -> line_ev.CallerIdReceived:
    return line_ev.CallerIdReceived(CallerId(number=number, name=name))


def kinds(actions: list[ev.Action], t: type) -> list[Any]:
    return [a for a in actions if isinstance(a, t)]


# -- cards ------------------------------------------------------------------------------------------


def test_card_read_while_the_cloud_is_away_registers_after_the_link_comes_up() -> None:
    r = Rig()
    (read,) = kinds(r.do(CardInserted(at=r.now, reader="R0", atr=b"")), ev.ReadCard)
    out = r.do(ev.CardRead("R0", read.gen, CARDS[0], "PEM"))
    assert not kinds(out, ev.Request)
    assert r.core.slots["R0"].state == "deferred"
    out = r.do(ev.LinkUp(BOX))
    assert kinds(out, ev.FlushOutbox)
    (req,) = kinds(out, ev.Request)
    assert isinstance(req.message, messages.NonceRequest)


def test_removal_wipes_at_once_and_deregisters_without_waiting() -> None:
    r = Rig()
    r.do(ev.LinkUp(BOX))
    r.register("R0", CARDS[0])
    out = r.do(CardRemoved(at=r.now, reader="R0"))
    wipe = kinds(out, ev.WipeHolder)
    (dereg,) = kinds(out, ev.Request)
    assert wipe and wipe[0].card_id == CARDS[0]
    assert out.index(wipe[0]) < out.index(dereg)  # wiped before anything goes to the network
    assert isinstance(dereg.message, messages.Deregister)
    assert "R0" not in r.core.slots


def test_a_deregister_that_cannot_go_now_goes_after_the_next_connect() -> None:
    r = Rig()
    r.do(ev.LinkUp(BOX))
    r.register("R0", CARDS[0])
    r.do(ev.LinkDown("gone"))
    out = r.do(CardRemoved(at=r.now, reader="R0"))
    assert kinds(out, ev.WipeHolder) and not kinds(out, ev.Request)
    (dereg,) = kinds(r.do(ev.LinkUp(BOX)), ev.Request)
    assert isinstance(dereg.message, messages.Deregister) and dereg.message.card_id == CARDS[0]


def test_every_present_card_registers_again_after_a_reconnect() -> None:
    r = Rig()
    r.do(ev.LinkUp(BOX))
    r.register("R0", CARDS[0])
    r.register("R1", CARDS[1])
    r.do(ev.LinkDown("registry restarted"))
    reqs = kinds(r.do(ev.LinkUp(BOX)), ev.Request)
    assert sorted(k.key.split(":")[1] for k in reqs) == ["R0", "R1"]
    assert all(isinstance(k.message, messages.NonceRequest) for k in reqs)


def test_a_stale_read_of_a_swapped_card_is_ignored() -> None:
    r = Rig()
    r.do(ev.LinkUp(BOX))
    (first,) = kinds(r.do(CardInserted(at=r.now, reader="R0", atr=b"")), ev.ReadCard)
    r.do(CardRemoved(at=r.now, reader="R0"))
    (second,) = kinds(r.do(CardInserted(at=r.now, reader="R0", atr=b"")), ev.ReadCard)
    assert not r.do(ev.CardRead("R0", first.gen, CARDS[0], "PEM"))
    assert kinds(r.do(ev.CardRead("R0", second.gen, CARDS[1], "PEM")), ev.Request)


def test_superseded_and_revoked_cards_are_wiped_and_a_revoked_box_backs_off() -> None:
    r = Rig()
    r.do(ev.LinkUp(BOX))
    r.register("R0", CARDS[0])
    r.register("R1", CARDS[1])
    out = r.do(ev.Pushed(messages.Superseded(card_id=CARDS[0], registration_id="x", at=1.0)))
    assert [w.card_id for w in kinds(out, ev.WipeHolder)] == [CARDS[0]]
    assert r.core.slots["R0"].state == "superseded"
    assert not kinds(
        r.do(CardRemoved(at=r.now, reader="R0")), ev.Request
    )  # superseded: nothing to deregister
    out = r.do(ev.Pushed(messages.Revoked(kind=RevokedKind.BOX, id=BOX)))
    (drop,) = kinds(out, ev.DropLink)
    assert drop.retry_after_s >= 60
    assert [w.card_id for w in kinds(out, ev.WipeHolder)] == [CARDS[1]]


def test_leases_are_refreshed_and_missing_registrations_redone() -> None:
    r = Rig()
    r.do(ev.LinkUp(BOX))
    r.register("R0", CARDS[0])
    (ref,) = kinds(r.tick(10.0), ev.Request)
    assert isinstance(ref.message, messages.Refresh) and ref.message.card_ids == (CARDS[0],)
    (again,) = kinds(r.do(ev.Reply(ref.key, messages.Refreshed(lease_s=30, missing=(CARDS[0],)))), ev.Request)
    assert isinstance(again.message, messages.NonceRequest)


# -- the call table -----------------------------------------------------------------------------------


def test_illegal_transitions_raise() -> None:
    t = PhoneTable()
    with pytest.raises(IllegalTransition):
        t.fire(Trig.DIGIT)  # on hook: no digits
    t.fire(Trig.LIFT)
    with pytest.raises(IllegalTransition):
        t.fire(Trig.LIFT_ANSWER)
    assert t.state is Phone.DIAL_TONE


# -- the lifeline ---------------------------------------------------------------------------------------


def lift(r: Rig) -> list[ev.Action]:
    return r.do(OffHook(r.now))


def test_911_with_no_card_and_no_cloud_goes_out_the_line_at_its_last_digit() -> None:
    r = Rig()
    assert kinds(lift(r), ev.PlayTone)[0].tone == "dial"
    assert not kinds(r.digits("91"), ev.LineDo)
    out = r.digits("1")
    assert [(a.op, a.number) for a in kinds(out, ev.LineDo)] == [("dial", "911")]
    assert r.core.deadline() is None or r.core.deadline() > r.now  # nothing waits on a timer
    (report,) = kinds(out, ev.Enqueue)
    assert report.kind == EMERGENCY_CALL_KIND == "emergency-call"
    assert report.key == f"emergency-call:{report.payload['call_id']}"
    assert report.payload["route"] == "own-line" and report.payload["line"] == "+12175551000"
    assert report.payload["card_id"] == "" and report.payload["number"] == "911"
    assert isinstance(out[0], ev.LineDo)  # the dial goes first: before the store, the log, the cloud
    out = r.do(ev.LineOpDone("dial", True))
    assert any(isinstance(a, ev.Connect) and a.a == "handset" and a.b == "line" for a in out)
    assert r.core.phone.state is Phone.CONNECTED


def test_911_takes_the_line_from_a_host_call_for_someone_else() -> None:
    r = Rig()
    r.do(ev.LinkUp(BOX))
    r.do(line_ev.Ring(1))  # the host line rings for some other holder
    assert r.core.line is not None and r.core.line.kind == "host-in"
    lift(r)
    out = r.digits("911")
    assert [a.op for a in kinds(out, ev.LineDo)] == ["hangup"]
    out = r.do(line_ev.CallEnded("local-hangup"))
    assert [(a.op, a.number) for a in kinds(out, ev.LineDo)] == [("dial", "911")]


def test_an_emergency_dial_that_gets_no_dial_tone_is_tried_again_until_it_goes_through() -> None:
    """Calling-party control: the exchange holds the line for the last caller after the box hung up on
    it, so the modem hears no dial tone; the box redials while the handset stays off hook."""
    r = Rig()
    r.do(ev.LinkUp(BOX))
    r.do(line_ev.Ring(1))
    lift(r)
    r.digits("911")
    out = r.do(line_ev.CallEnded("local-hangup"))
    assert [(a.op, a.number) for a in kinds(out, ev.LineDo)] == [("dial", "911")]
    for attempt in range(2, 5):
        r.do(ev.LineOpDone("dial", False, "no-dialtone"))
        out = r.do(line_ev.CallEnded("no-dialtone"))  # the modem hung up after NO DIALTONE
        assert not kinds(out, ev.LineDo) and r.core.phone.state is Phone.ROUTING
        assert not kinds(r.tick(0.2), ev.LineDo)
        out = r.tick(0.4)
        assert [(a.op, a.number) for a in kinds(out, ev.LineDo)] == [("dial", "911")]
        assert r.core.line is not None and r.core.line.attempts == attempt
    out = r.do(ev.LineOpDone("dial", True))
    assert any(isinstance(a, ev.Connect) and a.b == "line" for a in out)
    assert r.core.phone.state is Phone.CONNECTED
    # exactly one report for the one emergency call, however many attempts
    assert len([a for a in r.actions if isinstance(a, ev.Enqueue) and a.kind == EMERGENCY_CALL_KIND]) == 1


def test_911_again_while_the_last_one_is_still_going_on_hook_dials_once_the_line_is_free() -> None:
    r = Rig()
    lift(r)
    r.digits("911")
    r.do(ev.LineOpDone("dial", True))
    r.do(OnHook(r.now))  # the line starts hanging up (the modem takes a moment)
    lift(r)
    r.digits("91")
    out = r.digits("1")
    assert not [a for a in kinds(out, ev.LineDo) if a.op == "dial"]  # not onto a line still hanging up
    out = r.do(line_ev.CallEnded("local-hangup"))  # the last call's line is back on hook
    assert [(a.op, a.number) for a in kinds(out, ev.LineDo)] == [("dial", "911")]
    assert not kinds(r.do(ev.LineOpDone("hangup", True)), ev.LineDo)  # its late result changes nothing
    out = r.do(ev.LineOpDone("dial", True))
    assert r.core.phone.state is Phone.CONNECTED and not kinds(r.tick(5.0), ev.LineDo)


def _after_911(r: Rig) -> None:
    lift(r)
    r.digits("911")
    r.do(ev.LineOpDone("dial", True))
    r.do(OnHook(r.now))
    r.do(line_ev.CallEnded("local-hangup"))
    assert r.core.line is None and r.core.phone.state is Phone.IDLE


def test_the_answering_points_call_back_rings_the_handset_directly_for_an_hour() -> None:
    """No card, the cloud up: a ring on the line within the hour after 911 is not offered to the cloud
    (no filters, voicemail or holder): the handset rings and lifting it answers the line itself."""
    r = Rig()
    r.do(ev.LinkUp(BOX))
    _after_911(r)
    r.clock.advance(1800)
    out = r.do(line_ev.Ring(1))
    assert [a.cadence for a in kinds(out, ev.RingHandset)] == ["us"] and not kinds(out, ev.CallSignal)
    assert r.core.phone.state is Phone.RINGING
    assert not kinds(r.do(cid("911", "PSAP")), ev.CallSignal)
    assert not kinds(r.do(line_ev.Ring(2)), ev.CallSignal)
    out = lift(r)
    assert kinds(out, ev.StopRinging) and [a.op for a in kinds(out, ev.LineDo)] == ["answer"]
    out = r.do(ev.LineOpDone("answer", True))
    assert any(isinstance(a, ev.Connect) and a.a == "handset" and a.b == "line" for a in out)
    assert r.core.phone.state is Phone.CONNECTED
    out = r.do(OnHook(r.now))
    assert [a.op for a in kinds(out, ev.LineDo)] == ["hangup"]
    (rec,) = kinds(out, ev.Enqueue)
    assert rec.payload["route"] == "emergency-callback" and rec.payload["number"] == "911"


def test_after_the_hour_a_ring_goes_to_the_cloud_again_and_a_caller_giving_up_stops_the_ringing() -> None:
    r = Rig()
    r.do(ev.LinkUp(BOX))
    _after_911(r)
    r.do(line_ev.Ring(1))
    r.do(line_ev.CallEnded("caller-gave-up"))
    assert r.core.phone.state is Phone.IDLE and r.core.line is None
    r.clock.advance(3601)
    r.do(cid("5550300003", "BOB"))
    out = r.do(line_ev.Ring(1))
    assert not kinds(out, ev.RingHandset) and [a.kind for a in kinds(out, ev.CallSignal)] == ["line.ring"]


def test_a_failed_emergency_dial_without_an_on_hook_report_is_still_retried() -> None:
    r = Rig()
    lift(r)
    r.digits("911")
    r.do(ev.LineOpDone("dial", False, "modem went away"))
    out = r.tick(3.1)
    assert [(a.op, a.number) for a in kinds(out, ev.LineDo)] == [("dial", "911")]


def test_hanging_up_stops_the_redialling() -> None:
    r = Rig()
    lift(r)
    r.digits("911")
    r.do(ev.LineOpDone("dial", False, "no-dialtone"))
    r.do(line_ev.CallEnded("no-dialtone"))
    out = r.do(OnHook(r.now))
    assert [a.op for a in kinds(out, ev.LineDo)] == ["hangup"]
    assert not kinds(r.tick(5.0), ev.LineDo)


def test_933_reads_the_address_and_call_back_number_back_with_no_card_no_cloud_no_dial() -> None:
    r = Rig()
    civic = {"country": "US", "A1": "IL", "A3": "Shelbyville", "HNO": "400", "RD": "Harbour Road",
             "ROOM": "B2", "PC": "62565"}
    r.do(ev.LocationSnapshot({"civic": civic, "method": "installer", "state": "confirmed"}))
    lift(r)
    out = r.digits("933")
    assert not kinds(out, ev.LineDo) and not kinds(out, ev.Enqueue) and not kinds(out, ev.CallSignal)
    assert [p.name for p in kinds(out, ev.PlayPrompt)] == ["readback"]
    (said,) = [e for e in kinds(out, ev.Emit) if e.event == "emergency.readback"]
    text = said.fields["text"]
    assert "400 Harbour Road" in text and "room B2" in text and "Shelbyville" in text
    assert "2, 1, 7, 5, 5, 5, 1, 0, 0, 0" in text  # the call-back number, digit by digit
    out = r.digits("911")  # and 911 still dials from there, without hanging up
    assert [(a.op, a.number) for a in kinds(out, ev.LineDo)] == [("dial", "911")]


def test_933_says_when_no_address_is_recorded_or_the_box_may_have_moved() -> None:
    from roamline.firmware.location.readback import readback_text

    assert "no address is recorded" in readback_text(None, "")
    assert "no call-back number" in readback_text(None, "")
    moved = {"civic": {"country": "US", "A1": "IL", "A3": "X", "HNO": "1", "RD": "Main"},
             "state": "unconfirmed"}
    assert "not confirmed" in readback_text(moved, "+12175551000")


def test_the_emergency_report_carries_the_chosen_holder_and_the_location() -> None:
    r = Rig()
    r.do(ev.LinkUp(BOX))
    r.register("R0", CARDS[0])
    loc = {"civic": {"country": "US", "A1": "IL", "A3": "X", "HNO": "1", "RD": "Main"}, "method": "installer",
           "state": "confirmed"}
    r.do(ev.LocationSnapshot(loc))
    lift(r)
    (report,) = kinds(r.digits("911"), ev.Enqueue)
    fields, problems = check_report(report.payload)
    assert problems == [] and fields["card_id"] == CARDS[0] and fields["location"]["civic"]["RD"] == "Main"


setups = st.fixed_dictionaries(
    {
        "cards": st.integers(0, 2),
        "link": st.booleans(),
        "ring": st.booleans(),
        "misdial": st.text("0123456789*#", max_size=6),
        "country": st.sampled_from(["US", "GB", "DE", "AU"]),
        "line_call": st.sampled_from(["none", "host-in", "host-out", "answered", "local"]),
        "offer": st.booleans(),  # a call for the holder rings (or waits) at the box
        "bridge": st.booleans(),
        "revoked": st.booleans(),
        "moved": st.booleans(),
        "no_dialtone": st.integers(0, 3),  # dial attempts that find the line held (calling-party control)
    }
)


@settings(max_examples=150, deadline=None)
@given(s=setups, data=st.data())
def test_no_state_keeps_an_emergency_string_from_going_out_the_line(
    s: dict[str, Any], data: st.DataObject
) -> None:
    r = Rig(country=s["country"], bridge=s["bridge"])
    if s["link"] or s["cards"] or s["offer"]:
        r.do(ev.LinkUp(BOX))
    for i in range(s["cards"]):
        r.register(f"R{i}", CARDS[i])
    if s["offer"] and s["cards"]:
        r.do(offer("call-p0000001", CARDS[0]))
    if s["moved"]:
        r.do(ev.LocationSnapshot({"civic": {"country": "US", "A1": "IL", "A3": "X", "HNO": "1", "RD": "Main"},
                                  "state": "unconfirmed"}))
    if s["line_call"] == "host-in" or s["ring"]:
        r.do(line_ev.Ring(1))
    elif s["line_call"] in ("host-out", "answered"):
        r.do(ev.LineCommand("k-d", "dial", "call-h0000001", number="+13125550123", flow_id=9))
        r.do(ev.LineOpDone("dial", True))
        if s["line_call"] == "answered":
            r.do(line_ev.AnswerInferred(r.now))
    if s["revoked"]:
        r.do(ev.Pushed(messages.Revoked(kind=RevokedKind.BOX, id=BOX)))
    if not s["link"]:
        r.do(ev.LinkDown("cut"))
    if r.core.phone.state is Phone.RINGING:
        r.do(OffHook(r.now))  # lifting answers the ringing call: hang it up again
        r.do(OnHook(r.now))
    lift(r)
    if s["line_call"] == "local" and r.core.phone.state is not Phone.CHOOSING:
        r.digits("2175550123")  # a call of its own out the line (or refused without a card)
        r.tick(30.0)
    r.digits(s["misdial"])
    r.tick(30.0)  # whatever was dialled has been decided (or timed out) by now
    if r.core.phone.state not in (Phone.DIAL_TONE, Phone.COLLECTING, Phone.FAILED, Phone.CHOOSING):
        r.do(OnHook(r.now))  # it turned into a call: hang up and lift again
        r.clock.advance(1)
        lift(r)
    emergency = data.draw(st.sampled_from(load_plan(s["country"]).emergency))
    mark = len(r.actions)  # the "misdial" may itself have been an emergency call, reported on its own
    r.digits(emergency[:-1])
    out = r.digits(emergency[-1])  # the last digit's actions alone
    dials = [a.number for a in kinds(out, ev.LineDo) if a.op == "dial"]
    if r.core.line is not None and r.core.line.state == "hanging-up":
        out = r.do(line_ev.CallEnded("local-hangup"))
        dials = [a.number for a in kinds(out, ev.LineDo) if a.op == "dial"]
    assert dials == [emergency]
    assert isinstance(out[0], ev.LineDo) and out[0].op == "dial"  # nothing is carried out before the dial
    for _ in range(s["no_dialtone"]):  # the line is held for a while: every attempt fails, the box goes on
        r.do(ev.LineOpDone("dial", False, "no-dialtone"))
        r.do(line_ev.CallEnded("no-dialtone"))
        again = [a.number for a in kinds(r.tick(1.0), ev.LineDo) if a.op == "dial"]
        assert again == [emergency]
    out = r.do(ev.LineOpDone("dial", True))
    assert r.core.phone.state is Phone.CONNECTED
    if s["bridge"]:
        assert any(isinstance(a, ev.Connect) and a.a == "handset" and a.b == "line" for a in out)
    reports = [a for a in r.actions[mark:] if isinstance(a, ev.Enqueue) and a.kind == EMERGENCY_CALL_KIND]
    assert len(reports) == 1 and reports[0].payload["number"] == emergency


@settings(max_examples=60, deadline=None)
@given(s=setups, data=st.data())
def test_with_no_line_an_emergency_still_leaves_for_the_cloud_route_and_is_reported(
    s: dict[str, Any], data: st.DataObject
) -> None:
    r = Rig(country=s["country"], has_line=False)
    if s["link"] or s["cards"]:
        r.do(ev.LinkUp(BOX))
    for i in range(s["cards"]):
        r.register(f"R{i}", CARDS[i])
    if not s["link"]:
        r.do(ev.LinkDown("cut"))
    lift(r)
    r.digits(s["misdial"])
    r.tick(30.0)
    if r.core.phone.state not in (Phone.DIAL_TONE, Phone.COLLECTING, Phone.FAILED, Phone.CHOOSING):
        r.do(OnHook(r.now))
        r.clock.advance(1)
        lift(r)
    emergency = data.draw(st.sampled_from(load_plan(s["country"]).emergency))
    out = r.digits(emergency)
    assert not [a for a in kinds(out, ev.CallSignal) if a.kind == "call.place"]  # no card, rights, filters
    places = [a for a in kinds(out, ev.CallSignal) if a.kind == "call.emergency"]
    assert len(places) == 1 and places[0].fields["number"] == emergency
    (report,) = [a for a in kinds(out, ev.Enqueue) if a.kind == EMERGENCY_CALL_KIND]
    assert report.payload["route"] == "sip" and report.payload["number"] == emergency
    assert out.index(places[0]) < out.index(report)  # the call leaves before the report is written
    kind, message = linkcalls.outgoing(places[0])  # it has a wire form, whatever the holder state
    assert kind == "request" and message.TYPE == "call.emergency"


def _sos(r: Rig, number: str = "911") -> ev.CallSignal:
    lift(r)
    (sig,) = [a for a in r.digits(number) if isinstance(a, ev.CallSignal) and a.kind == "call.emergency"]
    return sig


def test_with_no_line_the_cloud_routes_the_call_and_its_audio_is_kept_free_of_concealment() -> None:
    r = Rig(has_line=False)
    r.do(ev.LinkUp(BOX))
    sig = _sos(r)
    assert sig.fields["card_id"] == "" and sig.fields["line"] == "+12175551000"
    r.do(ev.Progress(sig.call_id, "placed", flow_id=7))
    tones = kinds(r.do(ev.Progress(sig.call_id, "ringing")), ev.PlayTone)
    assert [t.tone for t in tones] == ["ringback"]
    out = r.do(ev.Progress(sig.call_id, "answered"))
    (conn,) = kinds(out, ev.Connect)
    assert conn.b == "flow:7" and conn.tty_safe  # no concealment or comfort noise (TTY tones kept)
    assert r.core.phone.state is Phone.CONNECTED
    out = r.do(OnHook(r.now))
    hangups = [a for a in kinds(out, ev.CallSignal) if a.kind == "call.hangup"]
    assert [h.call_id for h in hangups] == [sig.call_id]


def test_an_ordinary_cloud_call_keeps_concealment() -> None:
    r = Rig(has_line=False)
    r.do(ev.LinkUp(BOX))
    r.register("R0", CARDS[0])
    lift(r)
    (place,) = [a for a in kinds(r.digits("2175550123"), ev.CallSignal) if a.kind == "call.place"]
    r.do(ev.Progress(place.call_id, "placed", flow_id=3))
    (conn,) = kinds(r.do(ev.Progress(place.call_id, "answered")), ev.Connect)
    assert not conn.tty_safe


def test_with_no_line_and_the_cloud_unreachable_the_emergency_is_asked_again_until_it_gets_through() -> None:
    r = Rig(has_line=False)
    sig = _sos(r)  # the link is down
    out = r.do(ev.RequestFailed(f"place:{sig.call_id}", "link closed", unreachable=True))
    assert [a.event for a in kinds(out, ev.Emit)] == ["emergency.retry"]
    assert not kinds(out, ev.PlayTone)  # no reorder: the caller waits on the line
    again = [a for a in kinds(r.tick(SOS_RETRY_S), ev.CallSignal) if a.kind == "call.emergency"]
    assert [a.call_id for a in again] == [sig.call_id]
    r.do(ev.RequestFailed(f"place:{sig.call_id}", "link closed", unreachable=True))
    out = r.do(ev.LinkUp(BOX))  # the link is back: at once, not at the next second
    assert [a.call_id for a in kinds(out, ev.CallSignal) if a.kind == "call.emergency"] == [sig.call_id]
    r.do(ev.Progress(sig.call_id, "placed", flow_id=5))
    assert r.core.phone.state is Phone.ROUTING
    # hung up while waiting: nothing more is sent
    r.do(ev.RequestFailed(f"place:{sig.call_id}", "link closed", unreachable=True))
    r.do(OnHook(r.now))
    assert not [a for a in kinds(r.tick(5.0), ev.CallSignal) if a.kind == "call.emergency"]


def test_with_no_line_a_refused_emergency_plays_reorder() -> None:
    r = Rig(has_line=False)
    r.do(ev.LinkUp(BOX))
    sig = _sos(r)
    out = r.do(ev.Progress(sig.call_id, "refused", reason="no-route"))
    assert [t.tone for t in kinds(out, ev.PlayTone)] == ["reorder"]


@settings(max_examples=40, deadline=None)
@given(s=setups, data=st.data())
def test_with_no_line_any_holder_state_gets_the_emergency_answered_and_connected(
    s: dict[str, Any], data: st.DataObject
) -> None:
    r = Rig(country=s["country"], has_line=False)
    r.do(ev.LinkUp(BOX))
    for i in range(s["cards"]):
        r.register(f"R{i}", CARDS[i])
    emergency = data.draw(st.sampled_from(load_plan(s["country"]).emergency))
    sig = _sos(r, emergency)
    r.do(ev.Progress(sig.call_id, "placed", flow_id=9))
    (conn,) = kinds(r.do(ev.Progress(sig.call_id, "answered")), ev.Connect)
    assert conn.b == "flow:9" and conn.tty_safe and r.core.phone.state is Phone.CONNECTED


def _storm_event(draw: Any, r: Rig) -> Any:
    """One event of any kind the core takes, aimed at the calls and line it has now (or made up)."""
    active = r.core.active.call_id if r.core.active is not None else "call-x"
    line = r.core.line.call_id if r.core.line is not None else "call-y"
    target = draw(st.sampled_from([active, line, "call-z"]))
    card = draw(st.sampled_from(CARDS))
    reason = draw(st.sampled_from(["far-end", "busy", "refused", "timeout", "no-route"]))
    return draw(st.sampled_from([
        ev.LinkUp(BOX), ev.LinkDown("cut"),
        ev.Pushed(messages.Superseded(card_id=card, registration_id="x", at=1.0)),
        ev.Pushed(messages.Revoked(kind=RevokedKind.CARD, id=card)),
        ev.Pushed(messages.Revoked(kind=RevokedKind.BOX, id=BOX)),
        ev.Pushed(messages.HolderProfile(card_id=card, profile={"x": 1})),
        offer("call-s" + draw(st.sampled_from("01")), card),
        ev.Cancelled("k", target, reason), ev.RemoteHangup("k", target, reason),
        ev.Progress(target, draw(st.sampled_from(["placed", "own-line", "ringing", "answered", "busy",
                                                  "refused", "ended", "gone"])), reason, flow_id=3),
        ev.LineCommand("k", draw(st.sampled_from(["answer", "dial", "hangup"])), target,
                       number="+13125550123", flow_id=4),
        ev.RequestFailed(f"place:{target}", reason, unreachable=draw(st.booleans())),
        ev.RequestFailed(f"register:R0:{draw(st.integers(0, 3))}", reason, unreachable=True),
        line_ev.Ring(draw(st.integers(1, 4))), cid("5550300003", "BOB"),
        line_ev.CallEnded(reason), line_ev.AnswerInferred(r.now), line_ev.Ringback(),
        ev.LineOpDone(draw(st.sampled_from(["dial", "answer", "hangup", "flash"])), draw(st.booleans()),
                      reason),
        OffHook(r.now), OnHook(r.now), HookFlash(r.now, 300),
        Digit(r.now, draw(st.sampled_from("0123456789*#")), "dtmf"),
        ev.LocationSnapshot(None),
    ]))


@settings(max_examples=40, deadline=None)
@given(data=st.data(), cards=st.integers(0, 2), steps=st.integers(0, 25))
def test_no_storm_of_events_before_it_keeps_911_from_going_out_the_line(
    data: st.DataObject, cards: int, steps: int
) -> None:
    """Whatever the cloud, the line, the cards and the handset did before (in any order, about any call,
    sensible or not), lifting and keying 911 dials 911 out the line — at once, or as soon as the line is
    back on hook — and nothing the cloud says afterwards ends it."""
    r = Rig()
    r.do(ev.LinkUp(BOX))
    for i in range(cards):
        r.register(f"R{i}", CARDS[i])
    for _ in range(steps):
        r.do(_storm_event(data.draw, r))
        r.tick(data.draw(st.sampled_from([0.0, 0.3, 5.0])))
    if r.core.phone.state is not Phone.IDLE:
        r.do(OnHook(r.now))
        r.tick(1.0)
    if r.core.phone.state is Phone.RINGING:
        r.do(OffHook(r.now))
        r.do(OnHook(r.now))
    lift(r)
    r.digits("911")
    for _ in range(3):  # the modem finishes whatever it was doing: the line comes back on hook
        if any(isinstance(a, ev.LineDo) and a.op == "dial" and a.number == "911" for a in r.actions[-40:]):
            break
        r.do(line_ev.CallEnded("local-hangup"))
        r.do(ev.LineOpDone("hangup", True))
        r.tick(1.0)
    call = r.core.active
    assert call is not None and call.route == "emergency", r.core.phone.state
    assert r.core.line is not None and r.core.line.kind == "emergency" and r.core.line.call_id == call.call_id
    assert r.core.line.state in ("dialling", "redial", "dial-failed"), r.core.line
    # the cloud cannot end it
    r.do(ev.RemoteHangup("k", call.call_id, "far-end"))
    r.do(ev.Progress(call.call_id, "ended", "error"))
    r.do(ev.RequestFailed(f"place:{call.call_id}", "gone", unreachable=True))
    assert r.core.active is call and r.core.phone.state is not Phone.FAILED


# -- outgoing calls -----------------------------------------------------------------------------------------


def test_a_number_without_a_card_gets_reorder_and_a_spoken_reason() -> None:
    r = Rig()
    lift(r)
    out = r.digits("2175550123")
    assert [p.name for p in kinds(out, ev.PlayPrompt)] == ["insert-card"]
    assert kinds(out, ev.PlayTone)[-1].tone == "reorder"


def test_a_pstn_call_goes_to_the_cloud_with_ringback_answer_and_one_record() -> None:
    r = Rig()
    r.do(ev.LinkUp(BOX))
    r.register("R0", CARDS[0])
    lift(r)
    out = r.digits("2175550123")
    (place,) = [a for a in kinds(out, ev.CallSignal) if a.kind == "call.place"]
    assert place.fields == {"card_id": CARDS[0], "number": "+12175550123"}
    r.do(ev.Progress(place.call_id, "placed", flow_id=7))
    assert kinds(r.do(ev.Progress(place.call_id, "ringing")), ev.PlayTone)[0].tone == "ringback"
    out = r.do(ev.Progress(place.call_id, "answered"))
    assert any(isinstance(a, ev.Connect) and a.b == "flow:7" for a in out)
    r.clock.advance(30)
    out = r.do(OnHook(r.now))
    assert [a.kind for a in kinds(out, ev.CallSignal)] == ["call.hangup"]
    (rec,) = kinds(out, ev.Enqueue)
    assert rec.payload["duration_s"] == pytest.approx(30.0, abs=0.01)
    # the kind and field names the registry folds into the call's one record (docs/protocol.md §10.5)
    assert rec.kind == "call-record" and rec.key == f"call-record:{place.call_id}:{BOX}:terminal"
    assert rec.payload["side"] == "terminal" and rec.payload["outcome"] == "answered"
    assert rec.payload["ended_at"] - rec.payload["answered_at"] == pytest.approx(30.0, abs=0.01)


@pytest.mark.parametrize("end", ["hang-up", "far-end"])
def test_a_call_the_cloud_sends_out_the_own_line_is_told_back_to_it_answered_and_ended(end: str) -> None:
    """The cloud has the call open (its record, the line counted busy for host-line calls) until the box
    says it ended: the inferred answer as ``line.state answered``, then ``call.hangup`` (``hangup``: the
    holder hung up, ``far-end``: the far end did)."""
    r = Rig()
    r.do(ev.LinkUp(BOX))
    r.register("R0", CARDS[0])
    lift(r)
    (place,) = [a for a in kinds(r.digits("2175550123"), ev.CallSignal) if a.kind == "call.place"]
    out = r.do(ev.Progress(place.call_id, "own-line"))
    assert [a.op for a in kinds(out, ev.LineDo)] == ["dial"]
    r.do(ev.LineOpDone("dial", True))
    out = r.do(line_ev.AnswerInferred(r.now))
    assert [(a.kind, a.fields) for a in kinds(out, ev.CallSignal)] == [
        ("line.state", {"state": "answered", "inferred": True})]
    r.clock.advance(20)
    if end == "hang-up":
        out = r.do(OnHook(r.now))
        assert [a.kind for a in kinds(out, ev.CallSignal)] == ["call.hangup"]
    else:
        out = r.do(line_ev.CallEnded("loop-current-loss"))
        told = [(a.kind, a.fields["reason"]) for a in kinds(out, ev.CallSignal)]
        assert told == [("call.hangup", "far-end")]
    (rec,) = kinds(out, ev.Enqueue)
    assert rec.payload["outcome"] == "answered" and rec.payload["route"] == "own-line"


def test_a_call_that_left_by_the_own_line_because_the_cloud_was_away_tells_the_cloud_nothing() -> None:
    r = Rig()
    r.do(ev.LinkUp(BOX))
    r.register("R0", CARDS[0])
    lift(r)
    (place,) = [a for a in kinds(r.digits("2175550123"), ev.CallSignal) if a.kind == "call.place"]
    r.do(ev.RequestFailed(place.key, "link closed", unreachable=True))
    r.do(ev.LineOpDone("dial", True))
    assert not kinds(r.do(line_ev.AnswerInferred(r.now)), ev.CallSignal)
    assert not kinds(r.do(OnHook(r.now)), ev.CallSignal)  # its record goes by the outbox only


def test_a_refused_call_plays_reorder_and_speaks_the_reason() -> None:
    r = Rig()
    r.do(ev.LinkUp(BOX))
    r.register("R0", CARDS[0])
    lift(r)
    (place,) = [a for a in kinds(r.digits("3125550123"), ev.CallSignal) if a.kind == "call.place"]
    out = r.do(ev.Progress(place.call_id, "refused", reason="no-route"))
    assert [p.name for p in kinds(out, ev.PlayPrompt)] == ["refused-no-route"]
    assert kinds(out, ev.PlayTone)[-1].tone == "reorder"


def test_with_the_cloud_unreachable_a_call_leaves_by_the_own_line_and_its_record_waits() -> None:
    r = Rig()
    r.do(ev.LinkUp(BOX))
    r.register("R0", CARDS[0])
    lift(r)
    (place,) = [a for a in kinds(r.digits("2175550123"), ev.CallSignal) if a.kind == "call.place"]
    out = r.do(ev.RequestFailed(f"place:{place.call_id}", "timeout", unreachable=True))
    assert [(a.op, a.number) for a in kinds(out, ev.LineDo)] == [("dial", "12175550123")]  # 1 + ten digits
    r.do(ev.LineOpDone("dial", True))
    r.do(line_ev.AnswerInferred(r.now))
    assert r.core.phone.state is Phone.CONNECTED
    out = r.do(OnHook(r.now))
    assert [a.op for a in kinds(out, ev.LineDo)] == ["hangup"]
    (rec,) = kinds(out, ev.Enqueue)
    assert rec.payload["route"] == "own-line" and rec.payload["answer_inferred"]


# -- incoming calls ---------------------------------------------------------------------------------------


def offer(call_id: str, card: str, cadence: str = "us-dr1") -> ev.Offered:
    return ev.Offered(
        key=f"k-{call_id}",
        call_id=call_id,
        card_id=card,
        number="+15550100001",
        caller=ev.CallerInfo("2175550199", "JANE DOE"),
        cadence=cadence,
        flow_id=11,
    )


def test_an_offer_rings_with_the_holders_cadence_and_caller_id_and_lifting_answers() -> None:
    r = Rig()
    r.do(ev.LinkUp(BOX))
    r.register("R0", CARDS[0])
    out = r.do(offer("call-a0000001", CARDS[0], "us-dr2"))
    (ring,) = kinds(out, ev.RingHandset)
    assert ring.cadence == "us-dr2" and ring.caller == ev.CallerInfo("2175550199", "JANE DOE")
    out = lift(r)
    assert kinds(out, ev.StopRinging)
    assert [a.kind for a in kinds(out, ev.CallSignal)] == ["call.answer"]
    out = r.do(ev.Progress("call-a0000001", "answered", flow_id=11))
    assert any(isinstance(a, ev.Connect) and a.b == "flow:11" for a in out)
    out = r.do(ev.RemoteHangup("k2", "call-a0000001", "far-end"))
    assert kinds(out, ev.PlayTone)[-1].tone == "reorder" and kinds(out, ev.Enqueue)


def test_an_offer_for_a_card_that_is_not_here_is_declined() -> None:
    r = Rig()
    out = r.do(offer("call-a0000002", CARDS[1]))
    assert [(a.kind, a.fields["reason"]) for a in kinds(out, ev.CallSignal)] == [
        ("offer.declined", "unknown-card")
    ]


def test_cancelled_offer_stops_ringing() -> None:
    r = Rig()
    r.do(ev.LinkUp(BOX))
    r.register("R0", CARDS[0])
    r.do(offer("call-a0000003", CARDS[0]))
    out = r.do(ev.Cancelled("k", "call-a0000003", "answered-elsewhere"))
    assert kinds(out, ev.StopRinging) and r.core.phone.state is Phone.IDLE


def test_two_holders_choose_by_one_key_and_each_rings_its_own_way() -> None:
    r = Rig()
    r.do(ev.LinkUp(BOX))
    r.register("R0", CARDS[0])
    r.register("R1", CARDS[1])
    assert kinds(r.do(offer("call-b0000001", CARDS[1], "us-dr3")), ev.RingHandset)[0].cadence == "us-dr3"
    r.do(ev.Cancelled("k", "call-b0000001", "caller-gone"))
    out = lift(r)
    assert [p.name for p in kinds(out, ev.PlayPrompt)] == ["choose-holder-2"]
    r.digits("3")  # the second card
    assert r.core.holder_card == CARDS[1]
    (place,) = [a for a in kinds(r.digits("2175550123"), ev.CallSignal) if a.kind == "call.place"]
    assert place.fields["card_id"] == CARDS[1]


def test_call_waiting_and_hook_flash_switch_between_calls() -> None:
    r = Rig()
    r.do(ev.LinkUp(BOX))
    r.register("R0", CARDS[0])
    r.do(offer("call-c0000001", CARDS[0]))
    lift(r)
    r.do(ev.Progress("call-c0000001", "answered", flow_id=11))
    out = r.do(offer("call-c0000002", CARDS[0]))
    assert kinds(out, ev.PlayTone)[0].tone == "call_waiting"
    out = r.do(HookFlash(r.now, 300))
    assert [(a.kind, a.call_id) for a in kinds(out, ev.CallSignal)] == [("call.answer", "call-c0000002")]
    out = r.do(ev.Progress("call-c0000002", "answered", flow_id=12))
    assert any(isinstance(a, ev.Connect) and a.b == "flow:12" for a in out)
    out = r.do(HookFlash(r.now, 300))
    assert any(isinstance(a, ev.Connect) and a.b == "flow:11" for a in out)


def test_a_card_removed_during_a_call_lets_the_call_go_on_and_new_calls_go_elsewhere() -> None:
    r = Rig()
    r.do(ev.LinkUp(BOX))
    r.register("R0", CARDS[0])
    r.do(offer("call-d0000001", CARDS[0]))
    lift(r)
    r.do(ev.Progress("call-d0000001", "answered", flow_id=11))
    out = r.do(CardRemoved(at=r.now, reader="R0"))
    assert not [a for a in kinds(out, ev.CallSignal) if a.kind in ("call.hangup", "call.reject")]
    assert r.core.phone.state is Phone.CONNECTED
    out = r.do(offer("call-d0000002", CARDS[0]))
    assert [a.fields.get("reason") for a in kinds(out, ev.CallSignal)] == ["unknown-card"]


# -- the host line ---------------------------------------------------------------------------------------


def test_a_ring_on_the_host_line_is_reported_with_caller_id_and_the_cloud_answers_it() -> None:
    r = Rig()
    r.do(ev.LinkUp(BOX))
    r.do(cid("2175550199", "JANE DOE"))
    (ring,) = kinds(r.do(line_ev.Ring(1)), ev.CallSignal)
    assert ring.kind == "line.ring" and ring.fields["caller"] == ev.CallerInfo("2175550199", "JANE DOE")
    assert ring.fields["line"] == "+12175551000"
    out = r.do(ev.LineCommand("k1", "answer", ring.call_id, flow_id=5))
    assert [a.op for a in kinds(out, ev.LineDo)] == ["answer"]
    out = r.do(ev.LineOpDone("answer", True))
    assert [a.fields["result"] for a in kinds(out, ev.CallSignal)] == ["answered"]
    assert any(isinstance(a, ev.Connect) and a.a == "line" and a.b == "flow:5" for a in out)


def test_the_clouds_line_hangup_is_answered_once_even_when_the_line_reports_its_end_first() -> None:
    """The line bridge posts CallEnded before the hang-up's LineOpDone: the cloud's ``line.hangup``
    still gets its ``line.result`` (once), and the earlier answer's key is not answered again."""
    r = Rig()
    r.do(ev.LinkUp(BOX))
    r.do(cid("2175550199", "JANE DOE"))
    (ring,) = kinds(r.do(line_ev.Ring(1)), ev.CallSignal)
    r.do(ev.LineCommand("k1", "answer", ring.call_id, flow_id=5))
    r.do(ev.LineOpDone("answer", True))
    out = r.do(ev.LineCommand("k2", "hangup", ring.call_id))
    assert [a.op for a in kinds(out, ev.LineDo)] == ["hangup"]
    out = r.do(line_ev.CallEnded("local-hangup")) + r.do(ev.LineOpDone("hangup", True))
    results = [(a.key, a.fields["result"]) for a in kinds(out, ev.CallSignal) if a.kind == "line.result"]
    assert results == [("k2", "hung-up")]
    # and in the other order (LineOpDone first) it is answered once as well
    r.do(cid("2175550198", "JOHN DOE"))
    (ring,) = kinds(r.do(line_ev.Ring(1)), ev.CallSignal)
    r.do(ev.LineCommand("k3", "answer", ring.call_id, flow_id=6))
    r.do(ev.LineOpDone("answer", True))
    r.do(ev.LineCommand("k4", "hangup", ring.call_id))
    out = r.do(ev.LineOpDone("hangup", True)) + r.do(line_ev.CallEnded("local-hangup"))
    results = [(a.key, a.fields["result"]) for a in kinds(out, ev.CallSignal) if a.kind == "line.result"]
    assert results == [("k4", "hung-up")]


def test_a_half_duplex_modem_says_it_cannot_bridge() -> None:
    r = Rig(bridge=False)
    r.do(ev.LinkUp(BOX))
    assert not kinds(r.do(line_ev.Ring(1)), ev.CallSignal)  # held for caller ID
    (ring,) = kinds(r.do(line_ev.Ring(2)), ev.CallSignal)  # none came: reported without
    assert ring.fields["caller"] == ev.CallerInfo(absent="unavailable") and ring.fields["rings"] == 2
    out = r.do(ev.LineCommand("k1", "answer", ring.call_id, flow_id=5))
    assert not kinds(out, ev.LineDo)
    assert [a.fields["result"] for a in kinds(out, ev.CallSignal)] == ["half-duplex"]


def test_the_cloud_dials_out_the_host_line() -> None:
    r = Rig()
    r.do(ev.LinkUp(BOX))
    out = r.do(ev.LineCommand("k1", "dial", "call-e0000001", number="+13125550123", flow_id=9))
    assert [(a.op, a.number) for a in kinds(out, ev.LineDo)] == [("dial", "13125550123")]
    out = r.do(ev.LineOpDone("dial", True))
    assert [a.fields["result"] for a in kinds(out, ev.CallSignal)] == ["dialled"]
    out = r.do(line_ev.AnswerInferred(r.now))
    assert [(a.fields["state"], a.fields["inferred"]) for a in kinds(out, ev.CallSignal)] == [
        ("answered", True)
    ]
    out = r.do(line_ev.CallEnded("loop-current-loss"))
    (rec,) = kinds(out, ev.Enqueue)
    assert rec.kind == "call-record" and rec.payload["side"] == "host" and rec.payload["answer_inferred"]


def test_the_first_ring_waits_for_caller_id_that_comes_after_it() -> None:
    r = Rig()
    r.do(ev.LinkUp(BOX))
    assert not kinds(r.do(line_ev.Ring(1)), ev.CallSignal)
    out = r.do(cid("5550300003", "BOB JONES"))
    (ring,) = kinds(out, ev.CallSignal)
    assert ring.fields["rings"] == 1 and ring.fields["caller"] == ev.CallerInfo("5550300003", "BOB JONES")
    (again,) = kinds(r.do(line_ev.Ring(2)), ev.CallSignal)
    assert again.call_id == ring.call_id


def test_a_new_callers_id_while_the_line_seems_to_ring_on_is_a_new_call() -> None:
    r = Rig()
    r.do(ev.LinkUp(BOX))
    r.do(line_ev.Ring(1))
    (first,) = kinds(
        r.do(cid("5550300003", "BOB")), ev.CallSignal
    )
    r.do(line_ev.Ring(2))
    r.do(line_ev.Ring(3))  # BOB hung up; a new caller's ring comes before the ring-gap timeout
    out = r.do(cid("5550400004", "DAVE"))
    gone, ring = kinds(out, ev.CallSignal)
    assert (gone.kind, gone.call_id, gone.fields["state"]) == ("line.state", first.call_id, "caller-gone")
    assert ring.kind == "line.ring" and ring.call_id != first.call_id
    assert ring.fields["caller"] == ev.CallerInfo("5550400004", "DAVE")


def test_records_leave_the_box_in_unix_seconds() -> None:
    from roamline.firmware.runtime import _wall_times

    payload = {"started_at": 10.0, "answered_at": None, "ended_at": 40.5, "answer_inferred": True,
               "duration_s": 30.5, "call_id": "c1"}
    out = _wall_times(payload, 1.7e9)
    assert out["started_at"] == 1.7e9 + 10.0 and out["ended_at"] == 1.7e9 + 40.5
    assert out["answered_at"] is None and out["answer_inferred"] is True and out["duration_s"] == 30.5


# -- issue 8, defects 2 and 5, in the box core (they lived in the old firmware/app.py) -------------------


def test_a_revoked_card_push_is_emitted_and_its_holder_wiped() -> None:
    """The `revoked` push once raised TypeError (``kind=`` collided with the event log's argument)."""
    r = Rig()
    r.do(ev.LinkUp(BOX))
    r.register("R0", CARDS[0])
    out = r.do(ev.Pushed(messages.Revoked(kind=RevokedKind.CARD, id=CARDS[0])))
    (emitted,) = [e for e in kinds(out, ev.Emit) if e.event == "revoked"]
    assert emitted.fields == {"what": "card", "id": CARDS[0]}
    assert [w.card_id for w in kinds(out, ev.WipeHolder)] == [CARDS[0]]
    assert not kinds(out, ev.DropLink)  # a card's revocation is not the box's


def test_a_revoked_box_reports_its_cards_refused_not_unreachable() -> None:
    from roamline.firmware.link.client import REVOKED_REASON
    from roamline.firmware.runtime import request_failed
    from roamline.wire.errors import BoxRevoked, ErrorCode, LinkClosed, RemoteError, RequestTimeout

    r = Rig()
    r.do(ev.LinkUp(BOX))
    (read,) = kinds(r.do(CardInserted(at=r.now, reader="R0", atr=b"")), ev.ReadCard)
    (req,) = kinds(r.do(ev.CardRead("R0", read.gen, CARDS[0], "PEM")), ev.Request)
    out = r.do(request_failed(req.key, BoxRevoked(REVOKED_REASON)))
    said = [(e.event, e.fields["reason"]) for e in kinds(out, ev.Emit) if e.event.startswith("registration")]
    assert said == [("registration-refused", "box revoked")]
    assert r.core.slots["R0"].state == "unusable"
    # and the other failures keep their meaning
    assert request_failed("k", LinkClosed("gone")).unreachable
    assert request_failed("k", RequestTimeout("slow")).unreachable
    refused = request_failed("k", RemoteError("no", ErrorCode.FORBIDDEN))
    assert not refused.unreachable


# -- a relayed call whose voice is gone ------------------------------------------------------------------


def answered_offer(r: Rig, call_id: str) -> None:
    r.do(ev.LinkUp(BOX))
    r.register("R0", CARDS[0])
    r.do(offer(call_id, CARDS[0]))
    lift(r)
    r.do(ev.Progress(call_id, "answered", flow_id=11))
    assert r.core.phone.state is Phone.CONNECTED


def test_media_silence_with_the_link_down_ends_the_call_with_reorder_and_one_record() -> None:
    r = Rig()
    answered_offer(r, "call-m0000001")
    r.do(ev.LinkDown("dead"))
    out = r.do(ev.MediaLost("call-m0000001", "media-silence"))
    assert kinds(out, ev.PlayTone)[-1].tone == "reorder"
    assert not kinds(out, ev.CallSignal)  # nobody to tell: the cloud ends it by its own silence timeout
    (rec,) = kinds(out, ev.Enqueue)
    assert rec.payload["reason"] == "media-silence" and rec.payload["side"] == "terminal"
    assert r.core.active is None
    assert not r.do(ev.MediaLost("call-m0000001", "media-silence"))  # once


def test_a_refused_re_bind_after_a_reconnect_ends_the_call() -> None:
    r = Rig()
    answered_offer(r, "call-m0000002")
    refused = ev.RequestFailed("bind:call-m0000002", "forbidden: not this box's live leg", unreachable=False)
    out = r.do(refused)
    assert [e.fields["reason"] for e in kinds(out, ev.Emit) if e.event == "call.ended"] == ["call-gone"]
    assert kinds(out, ev.PlayTone)[-1].tone == "reorder" and len(kinds(out, ev.Enqueue)) == 1
    # an unreachable cloud is not a refusal: the call waits for the next connect (or silence)
    r2 = Rig()
    answered_offer(r2, "call-m0000003")
    assert not r2.do(ev.RequestFailed("bind:call-m0000003", "link closed", unreachable=True))


def test_a_host_line_whose_relayed_voice_is_gone_is_hung_up() -> None:
    r = Rig()
    r.do(ev.LinkUp(BOX))
    r.do(cid("2175550199", "JANE DOE"))
    (ring,) = kinds(r.do(line_ev.Ring(1)), ev.CallSignal)
    r.do(ev.LineCommand("k1", "answer", ring.call_id, flow_id=5))
    r.do(ev.LineOpDone("answer", True))
    out = r.do(ev.MediaLost(ring.call_id, "call-gone"))
    assert [a.op for a in kinds(out, ev.LineDo)] == ["hangup"]
    assert any(isinstance(a, ev.Connect) and a.a == "line" and a.b is None for a in out)
    out = r.do(ev.LineOpDone("hangup", True))
    (rec,) = kinds(out, ev.Enqueue)
    assert rec.payload["side"] == "host" and rec.payload["outcome"] == "answered"


def test_a_modem_lost_mid_call_is_reported_as_the_line_lost() -> None:
    r = Rig()
    r.do(ev.LinkUp(BOX))
    r.do(cid("2175550199", "JANE DOE"))
    (ring,) = kinds(r.do(line_ev.Ring(1)), ev.CallSignal)
    r.do(ev.LineCommand("k1", "answer", ring.call_id, flow_id=5))
    r.do(ev.LineOpDone("answer", True))
    out = r.do(line_ev.ModemLost("unplugged: EIO"))
    assert [e.event for e in kinds(out, ev.Emit)] == ["line.modem-lost"]
    out = r.do(line_ev.CallEnded("modem-lost: unplugged: EIO"))
    (state,) = [a for a in kinds(out, ev.CallSignal) if a.kind == "line.state"]
    assert state.fields["state"] == "line-lost"
    assert len(kinds(out, ev.Enqueue)) == 1


# -- the holder's profile: speed-dials, message waiting, cache and wipe -------------------------------

ALICE_DIALS = {"speed_dials": [{"key": "2", "number": "+15550400004", "label": "Pizza"}], "waiting": 2}
CAROL_DIALS = {"speed_dials": [{"key": "2", "number": "+442079460000"}]}


def test_a_speed_dial_from_the_holders_profile_is_placed_as_a_number() -> None:
    r = Rig()
    r.do(ev.LinkUp(BOX))
    r.register("R0", CARDS[0], ALICE_DIALS)
    (cached,) = kinds(r.actions, ev.CacheHolder)
    assert cached.profile["profile"]["speed_dials"][0]["number"] == "+15550400004"
    assert kinds(r.actions, ev.MessageWaiting) == [ev.MessageWaiting(True)]  # 2 messages wait
    lift(r)
    out = r.digits("#2")
    (place,) = [a for a in kinds(out, ev.CallSignal) if a.kind == "call.place"]
    assert place.fields == {"card_id": CARDS[0], "number": "+15550400004"}
    r.do(OnHook(r.now))
    lift(r)
    out = r.digits("#7")  # nothing on #7
    assert not [a for a in kinds(out, ev.CallSignal) if a.kind == "call.place"]
    assert [p.name for p in kinds(out, ev.PlayPrompt)] == ["no-speed-dial"]


def test_with_two_cards_the_chosen_holders_speed_dials_apply() -> None:
    r = Rig()
    r.do(ev.LinkUp(BOX))
    r.register("R0", CARDS[0], ALICE_DIALS)
    r.register("R1", CARDS[1], CAROL_DIALS)
    for key, card, number in (("2", CARDS[0], "+15550400004"), ("3", CARDS[1], "+442079460000")):
        lift(r)
        r.digits(key)  # who is calling?
        (place,) = [a for a in kinds(r.digits("#2"), ev.CallSignal) if a.kind == "call.place"]
        assert place.fields == {"card_id": card, "number": number}
        r.do(OnHook(r.now))


def test_a_pushed_profile_replaces_the_cached_one_and_removal_wipes_it() -> None:
    r = Rig()
    r.do(ev.LinkUp(BOX))
    r.register("R0", CARDS[0], {})
    assert r.core.slots["R0"].profile.speed_dial("2") is None
    out = r.do(ev.Pushed(messages.HolderProfile(card_id=CARDS[0], profile=ALICE_DIALS, seq=7)))
    assert r.core.slots["R0"].profile.speed_dial("2") is not None
    assert kinds(out, ev.MessageWaiting) == [ev.MessageWaiting(True)]
    (cached,) = kinds(out, ev.CacheHolder)
    assert cached.profile["holder"] == "holder-R0" and cached.profile["profile"]["waiting"] == 2
    out = r.do(ev.Pushed(messages.HolderProfile(card_id=CARDS[0], profile={"waiting": "lots"}, seq=8)))
    assert next(e.event for e in kinds(out, ev.Emit)) == "profile-refused"  # a bad profile is not kept
    assert r.core.slots["R0"].profile.speed_dial("2") is None and kinds(out, ev.MessageWaiting)
    r.do(ev.Pushed(messages.HolderProfile(card_id=CARDS[0], profile=ALICE_DIALS, seq=9)))
    out = r.do(CardRemoved(at=r.now, reader="R0"))
    assert kinds(out, ev.WipeHolder) == [ev.WipeHolder(CARDS[0])]
    assert kinds(out, ev.MessageWaiting) == [ev.MessageWaiting(False)]
    lift(r)
    out = r.digits("#2")  # no card: no speed-dials
    assert [p.name for p in kinds(out, ev.PlayPrompt)] == ["insert-card"]


@pytest.mark.parametrize(("how", "prompt"), [("block", "refused-filtered"), ("voicemail", None),
                                             ("reject", None)])
def test_a_filtered_call_on_the_host_line_is_refused_on_the_line(how: str, prompt: str | None) -> None:
    from roamline.wire.calls import LineRouted

    r = Rig()
    r.do(ev.LinkUp(BOX))
    r.do(cid("19005550123", "ACME SALES"))
    (ring,) = kinds(r.do(line_ev.Ring(1)), ev.CallSignal)
    out = r.do(ev.Reply(ring.key, LineRouted(call_id=ring.call_id, offered=0, filtered=how)))
    assert [e.fields["how"] for e in kinds(out, ev.Emit) if e.event == "call.filtered"] == [how]
    if prompt is None:  # a silent reject: the line is left ringing (voicemail: the registry's take follows)
        assert not kinds(out, ev.LineDo)
        return
    assert [a.op for a in kinds(out, ev.LineDo)] == ["answer"]
    out = r.do(ev.LineOpDone("answer", True))
    assert [(a.a, a.b) for a in kinds(out, ev.Connect)] == [("line", f"prompt:{prompt}")]
    assert not kinds(r.tick(5.9), ev.LineDo)
    assert [a.op for a in kinds(r.tick(0.2), ev.LineDo)] == ["hangup"]  # after the announcement


def _grant_rig(now_wall: float) -> tuple[Rig, object]:
    from roamline.wire import grant as wg
    from roamline.wire import identity

    ca = identity.CertificateAuthority.create(now=now_wall)
    r = Rig()
    pub = ca.certificate.public_key()

    def check(tok: str, call_id: str, line: str, number: str) -> wg.Grant:
        return wg.verify(tok, pub, call_id=call_id, line=line, number=number, now=now_wall)  # type: ignore[arg-type]

    r.core._check_grant = check
    return r, ca


@pytest.mark.parametrize("case", ["genuine", "forged", "other-number", "stale", "missing", "replayed"])
def test_the_host_box_checks_the_registrys_grant_before_it_dials(case: str) -> None:
    from roamline.wire import grant as wg
    from roamline.wire import identity

    wall = 1_800_000_000.0
    r, ca = _grant_rig(wall)
    r.do(ev.LinkUp(BOX))
    key = ca.key if case != "forged" else identity.CertificateAuthority.create(now=wall).key  # type: ignore[attr-defined]
    issued = wall - 600 if case == "stale" else wall
    number = "+15559990001" if case == "other-number" else "+15559990000"
    tok = "" if case == "missing" else wg.issue(key, call_id="call-x0000001", line="+12175551000",
                                                 number=number, account="a", now=issued, max_call_s=60.0)
    out = r.do(ev.LineCommand("k1", "dial", "call-x0000001", number="+15559990000", flow_id=3, grant=tok))
    if case == "replayed":
        r.do(ev.LineOpDone("dial", False, "no dial tone"))
        r.core.line = None
        out = r.do(ev.LineCommand("k2", "dial", "call-x0000001", number="+15559990000", flow_id=3, grant=tok))
    if case == "genuine":
        assert [a.op for a in kinds(out, ev.LineDo)] == ["dial"]
        r.do(ev.LineOpDone("dial", True))
        assert not kinds(r.tick(61.0), ev.LineDo)
        out = r.tick(1.5)  # the grant's 60 s plus the box's grace: cut by the box itself
        assert [a.op for a in kinds(out, ev.LineDo)] == ["hangup"]
        assert any(e.event == "line.cut" for e in kinds(out, ev.Emit))
        return
    assert not kinds(out, ev.LineDo)
    (res,) = kinds(out, ev.CallSignal)
    assert res.fields["result"] == "error" and res.fields["detail"].startswith("refused")


def test_the_caller_hears_a_warning_before_the_line_rights_cut_the_call() -> None:
    r = Rig(has_line=False)
    r.do(ev.LinkUp(BOX))
    r.register("R0", CARDS[0])
    lift(r)
    (place,) = [a for a in kinds(r.digits("2175550123"), ev.CallSignal) if a.kind == "call.place"]
    r.do(ev.Progress(place.call_id, "placed", flow_id=4))
    r.do(ev.Progress(place.call_id, "answered"))
    out = r.do(ev.Progress(place.call_id, "warning"))
    assert [t.tone for t in kinds(out, ev.PlayTone)] == ["call_waiting"]
    assert [t.tone for t in kinds(r.tick(0.7), ev.PlayTone)] == [None]  # a short tone, then the call goes on


# -- 911 with the line's modem gone (issue 11: the modem unplugged or silent) -------------------------------


def _prompts(out: list[ev.Action]) -> list[str]:
    return [a.name for a in kinds(out, ev.PlayPrompt)]


def _sos_of(out: list[ev.Action]) -> list[ev.CallSignal]:
    return [a for a in kinds(out, ev.CallSignal) if a.kind == "call.emergency"]


def test_911_with_the_modem_unplugged_goes_by_the_clouds_sip_route_at_once_and_says_so() -> None:
    """Found: the core dialled the absent modem every 3 s for as long as the handset stayed off hook, in
    silence, and never asked the cloud — the call was lost while the modem was gone."""
    r = Rig()
    r.do(ev.LinkUp(BOX))
    r.do(line_ev.ModemLost("unplugged: EIO"))
    lift(r)
    out = r.digits("911")
    assert not kinds(out, ev.LineDo)  # no dial onto a modem that is not there
    (sig,) = _sos_of(out)
    assert sig.fields["line"] == "+12175551000"  # the line's number to call back
    assert _prompts(out) == ["emergency-no-line"]  # the caller hears what happens, not silence
    (report,) = [a for a in kinds(out, ev.Enqueue) if a.kind == EMERGENCY_CALL_KIND]
    assert report.payload["route"] == "sip" and out.index(sig) < out.index(report)
    r.do(ev.Progress(sig.call_id, "placed", flow_id=4))
    assert [t.tone for t in kinds(r.do(ev.Progress(sig.call_id, "ringing")), ev.PlayTone)] == ["ringback"]
    (conn,) = kinds(r.do(ev.Progress(sig.call_id, "answered")), ev.Connect)
    assert conn.b == "flow:4" and conn.tty_safe and r.core.phone.state is Phone.CONNECTED
    out = r.do(OnHook(r.now))
    assert [a.call_id for a in kinds(out, ev.CallSignal) if a.kind == "call.hangup"] == [sig.call_id]
    assert not kinds(out, ev.LineDo)
    (rec,) = [a for a in kinds(out, ev.Enqueue) if a.kind != EMERGENCY_CALL_KIND]
    assert rec.payload["call_id"] == sig.call_id and rec.payload["route"] == "emergency"


def test_the_modem_lost_while_911_dials_hands_the_call_to_the_cloud() -> None:
    r = Rig()
    r.do(ev.LinkUp(BOX))
    lift(r)
    out = r.digits("911")
    assert [(a.op, a.number) for a in kinds(out, ev.LineDo)] == [("dial", "911")]
    r.do(line_ev.ModemLost("unplugged: EIO"))
    out = r.do(line_ev.CallEnded("modem-lost: unplugged: EIO"))
    (sig,) = _sos_of(out)
    assert _prompts(out) == ["emergency-no-line"] and r.core.line is None
    assert [a.event for a in kinds(out, ev.Emit)] == ["emergency.rerouted"]
    assert not kinds(r.do(ev.LineOpDone("dial", False, "modem-lost")), ev.CallSignal)  # its late result
    assert not kinds(r.tick(5.0), ev.LineDo)  # nothing redials the gone modem
    (conn,) = kinds(r.do(ev.Progress(sig.call_id, "answered", flow_id=2)), ev.Connect)
    assert conn.tty_safe
    assert len([a for a in r.actions if isinstance(a, ev.Enqueue) and a.kind == EMERGENCY_CALL_KIND]) == 1


def test_a_dial_refused_by_a_gone_modem_hands_the_call_to_the_cloud() -> None:
    """The modem vanished between the last event and the dial: the driver fails the dial at once."""
    r = Rig()
    r.do(ev.LinkUp(BOX))
    lift(r)
    r.digits("911")
    r.do(line_ev.ModemLost("unplugged: EIO"))  # no call on the line yet: no CallEnded follows
    out = r.do(ev.LineOpDone("dial", False, "modem /dev/x is not available"))
    assert len(_sos_of(out)) == 1 and _prompts(out) == ["emergency-no-line"]


def test_the_modem_lost_while_911_waits_to_redial_hands_the_call_to_the_cloud() -> None:
    r = Rig()
    r.do(ev.LinkUp(BOX))
    lift(r)
    r.digits("911")
    r.do(ev.LineOpDone("dial", False, "no-dialtone"))
    r.do(line_ev.CallEnded("no-dialtone"))  # the line held by the last caller: waits to redial
    out = r.do(line_ev.ModemLost("silent: no answer to AT"))
    assert len(_sos_of(out)) == 1
    assert not kinds(r.tick(5.0), ev.LineDo)


def test_with_the_modem_gone_and_the_cloud_unreachable_whichever_comes_back_first_takes_the_911() -> None:
    r = Rig()  # the link is down
    r.do(line_ev.ModemLost("unplugged: EIO"))
    lift(r)
    (sig,) = _sos_of(r.digits("911"))
    r.do(ev.RequestFailed(f"place:{sig.call_id}", "link closed", unreachable=True))
    assert [a.call_id for a in _sos_of(r.tick(SOS_RETRY_S))] == [sig.call_id]  # asked again
    r.do(ev.RequestFailed(f"place:{sig.call_id}", "link closed", unreachable=True))
    r.do(line_ev.ModemFound("/dev/ttyACM0"))  # the modem is back first
    out = r.tick(SOS_RETRY_S)
    assert [(a.op, a.number) for a in kinds(out, ev.LineDo)] == [("dial", "911")] and not _sos_of(out)
    out = r.do(ev.LineOpDone("dial", True))
    assert any(isinstance(a, ev.Connect) and a.b == "line" for a in out)
    assert r.core.phone.state is Phone.CONNECTED
    assert not kinds(r.do(ev.LinkUp(BOX)), ev.CallSignal)  # the cloud, back later, is not asked
    assert len([a for a in r.actions if isinstance(a, ev.Enqueue) and a.kind == EMERGENCY_CALL_KIND]) == 1


def test_a_modem_found_again_carries_the_next_911_on_the_line() -> None:
    r = Rig()
    r.do(ev.LinkUp(BOX))
    r.do(line_ev.ModemLost("unplugged: EIO"))
    r.do(line_ev.ModemFound("/dev/ttyACM0"))
    lift(r)
    out = r.digits("911")
    assert [(a.op, a.number) for a in kinds(out, ev.LineDo)] == [("dial", "911")] and not _sos_of(out)


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.sampled_from(["lost", "found", "up", "down", "fail-unreachable", "tick",
                                       "ended-modem", "dial-failed", "dial-ok"]), max_size=12))
def test_no_order_of_modem_and_link_faults_leaves_a_911_without_a_way_out(steps: list[str]) -> None:
    """Property: while the handset is off hook in a 911 that is not connected, the core always has an
    attempt in flight or a timer that makes one (line dial or the cloud's route) — never neither."""
    r = Rig()
    lift(r)
    r.digits("911")
    for step in steps:
        call = r.core.active
        assert call is not None
        if step == "lost":
            r.do(line_ev.ModemLost("unplugged: EIO"))
        elif step == "found":
            r.do(line_ev.ModemFound("/dev/ttyACM0"))
        elif step == "up":
            r.do(ev.LinkUp(BOX))
        elif step == "down":
            r.do(ev.LinkDown("cut"))
        elif step == "fail-unreachable" and call.sip and _asking(r):  # the request in flight fails
            r.do(ev.RequestFailed(f"place:{call.call_id}", "link closed", unreachable=True))
        elif step == "tick":
            r.tick(3.5)
        elif step == "ended-modem" and r.core.line is not None:
            r.do(line_ev.CallEnded("modem-lost: gone"))
        elif step == "dial-failed" and r.core.line is not None and r.core.line.state == "dialling":
            r.do(ev.LineOpDone("dial", False, "no-dialtone"))
        elif step == "dial-ok" and r.core.line is not None and r.core.line.state == "dialling" \
                and r.core.modem_ok:
            r.do(ev.LineOpDone("dial", True))
        if r.core.phone.state is Phone.CONNECTED:
            return
        assert r.core.phone.state is Phone.ROUTING
        line = r.core.line
        dialling = line is not None and line.kind == "emergency" and line.state in ("dialling", "hanging-up")
        asking = r.core.active is not None and r.core.active.sip and _asking(r)
        assert dialling or asking or r.core.timers.redial is not None, (steps, line, r.core.active)


def _asking(r: Rig) -> bool:
    """A cloud request is in flight: more call.emergency sent than failures heard back."""
    sent = [a for a in r.actions if isinstance(a, ev.CallSignal) and a.kind == "call.emergency"]
    failed = [a for a in r.actions if isinstance(a, ev.Emit) and a.event == "emergency.retry"]
    return len(sent) > len(failed)


def test_the_modem_lost_mid_emergency_call_places_it_again_by_the_cloud() -> None:
    """The 911 was up on the line when the modem vanished: the caller is still off hook, so the call is
    placed again by the cloud's route at once (not left to reorder and a redial the caller may not know
    to make); one emergency report, one call id."""
    r = Rig()
    r.do(ev.LinkUp(BOX))
    lift(r)
    r.digits("911")
    r.do(ev.LineOpDone("dial", True))
    assert r.core.phone.state is Phone.CONNECTED
    r.do(line_ev.ModemLost("unplugged: EIO"))
    out = r.do(line_ev.CallEnded("modem-lost: unplugged: EIO"))
    (sig,) = _sos_of(out)
    assert r.core.phone.state is Phone.ROUTING and not kinds(out, ev.PlayTone)  # no reorder
    assert ev.Connect("handset", None) in out and _prompts(out) == ["emergency-no-line"]
    (conn,) = kinds(r.do(ev.Progress(sig.call_id, "answered", flow_id=3)), ev.Connect)
    assert conn.b == "flow:3" and conn.tty_safe and r.core.phone.state is Phone.CONNECTED
    reports = [a for a in r.actions if isinstance(a, ev.Enqueue) and a.kind == EMERGENCY_CALL_KIND]
    assert len(reports) == 1 and reports[0].payload["call_id"] == sig.call_id


def test_an_emergency_call_ended_by_the_far_end_is_not_placed_again() -> None:
    r = Rig()
    r.do(ev.LinkUp(BOX))
    lift(r)
    r.digits("911")
    r.do(ev.LineOpDone("dial", True))
    out = r.do(line_ev.CallEnded("far-end-hangup"))
    assert not _sos_of(out) and [t.tone for t in kinds(out, ev.PlayTone)] == ["reorder"]


def test_a_hang_up_that_succeeds_with_the_modem_gone_does_not_count_as_the_modem_back() -> None:
    """The driver's hang-up with no modem open has nothing to do and reports success: the next 911 must
    still go by the cloud, not dial (and redial) the gone modem."""
    r = Rig()
    r.do(ev.LinkUp(BOX))
    lift(r)
    r.digits("2175550123")  # no card: refused, reorder; the line is not used
    r.do(line_ev.ModemLost("unplugged: EIO"))
    r.do(ev.LineOpDone("hangup", True))
    r.do(OnHook(r.now))
    lift(r)
    out = r.digits("911")
    assert len(_sos_of(out)) == 1 and not kinds(out, ev.LineDo)
