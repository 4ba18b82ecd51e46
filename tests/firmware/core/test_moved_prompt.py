"""The moved-location prompt at off-hook, on the manual-clock core with the real LocationService."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.firmware.card.events import CardInserted
from roamline.firmware.core import events as ev
from roamline.firmware.core.box import BoxCore, CoreConfig
from roamline.firmware.dialplan import Classifier, load_plan
from roamline.firmware.handset.events import Digit, OffHook, OnHook
from roamline.firmware.location.service import LocationService
from roamline.wire import messages
from roamline.wire.clock import ManualClock
from roamline.wire.messages import LocationConfirmed, NoncePurpose

BOX = "b" * 32
CARD = "c" * 32
TOWN = {"country": "US", "A1": "IL", "A3": "Springfield"}
HOME = {"civic": {**TOWN, "RD": "Elm", "STS": "Street", "HNO": "12"}, "method": "installer"}
SHOP = {"civic": {**TOWN, "RD": "Oak", "STS": "Avenue", "HNO": "400"}, "method": "operator"}


class Rig:
    def __init__(self, addresses: list[dict[str, Any]], *, link: bool = True) -> None:
        self.clock = ManualClock()
        self.where = LocationService(addresses, clock=self.clock)
        ids = (f"call-{i:04d}" for i in itertools.count())
        self.core = BoxCore(
            CoreConfig(box_id=BOX, has_line=True, line_can_bridge=True, line_number="+12175551000",
                       location=self.where.snapshot()),
            Classifier(load_plan("US"), line_number="+12175551000"), self.clock.monotonic(),
            new_id=lambda: next(ids), where=self.where)
        if link:
            self.do(ev.LinkUp(BOX))

    @property
    def now(self) -> float:
        return self.clock.monotonic()

    def do(self, event: Any) -> list[ev.Action]:
        return self.core.handle(event, self.now)

    def move(self) -> None:
        """The network fingerprint changes: the location becomes unconfirmed."""
        self.where.on_network(peer_address="198.51.100.7:4000", gateway="192.168.1.1")
        [msg] = self.where.on_network(gateway="10.0.0.1")
        assert isinstance(msg, messages.LocationUnconfirmed)
        self.do(ev.LocationSnapshot(self.where.snapshot()))

    def key(self, k: str) -> list[ev.Action]:
        self.clock.advance(0.2)
        return self.do(Digit(self.now, k, "dtmf"))

    def register(self) -> None:
        (read,) = [a for a in self.do(CardInserted(at=self.now, reader="R0", atr=b""))
                   if isinstance(a, ev.ReadCard)]
        (req,) = [a for a in self.do(ev.CardRead("R0", read.gen, CARD, "PEM")) if isinstance(a, ev.Request)]
        issued = messages.NonceIssued(nonce=bytes(32), expires_in=30, purpose=NoncePurpose.REGISTER)
        self.do(ev.Reply(req.key, issued))
        (reg,) = [a for a in self.do(ev.CardSigned("R0", read.gen, b"sig")) if isinstance(a, ev.Request)]
        self.do(ev.Reply(reg.key, messages.Registered(
            registration_id="r-1", card_id=CARD, account="acct", holder="Ann", numbers=("+15550100001",),
            profile={}, lease_s=30, seq=1)))


def kinds(actions: list[ev.Action], t: type) -> list[Any]:
    return [a for a in actions if isinstance(a, t)]


def test_a_confirmed_location_gives_plain_dial_tone() -> None:
    r = Rig([HOME])
    out = r.do(OffHook(r.now))
    assert kinds(out, ev.PlayTone) == [ev.PlayTone("dial")] and not kinds(out, ev.PlayPrompt)


def test_unconfirmed_the_off_hook_asks_and_key_1_confirms_for_the_holder_then_dial_tone() -> None:
    r = Rig([HOME])
    r.register()
    r.move()
    assert r.core.location is not None and r.core.location["state"] == "unconfirmed"
    out = r.do(OffHook(r.now))
    assert kinds(out, ev.PlayPrompt) == [ev.PlayPrompt("moved-0")]
    assert "It is recorded at 12 Elm Street" in r.where.prompt_texts()["moved-0"]
    out = r.key("1")
    [req] = kinds(out, ev.Request)
    assert req.message == LocationConfirmed(at=r.clock.wall(), by=CARD, address=0, civic=HOME["civic"])
    assert kinds(out, ev.PlayPrompt) == [ev.PlayPrompt("moved-ok-0")]
    assert kinds(out, ev.PlayTone) == [ev.PlayTone("dial")]  # after the thanks: dial tone as usual
    assert r.core.location is not None and r.core.location["state"] == "confirmed"
    # the next key is a number's first digit, not the prompt's
    out = r.key("1")
    assert not kinds(out, ev.Request) and r.core.phone.state.value == "collecting"
    r.do(OnHook(r.now))
    assert not kinds(r.do(OffHook(r.now)), ev.PlayPrompt)  # confirmed: not asked again


def test_key_2_offers_the_next_recorded_address_and_confirming_it_makes_it_the_one_911_sends() -> None:
    r = Rig([HOME, SHOP], link=False)
    r.move()
    r.do(OffHook(r.now))
    out = r.key("2")
    assert kinds(out, ev.PlayPrompt) == [ev.PlayPrompt("moved-1")] and not kinds(out, ev.Request)
    assert "400 Oak Avenue" in r.where.prompt_texts()["moved-1"]
    [req] = kinds(r.key("1"), ev.Request)
    assert isinstance(req.message, LocationConfirmed)
    assert req.message.by == "handset" and req.message.address == 1  # no card in
    assert r.core.location is not None and r.core.location["civic"]["RD"] == "Oak"
    out = r.do(OnHook(r.now)) + r.do(OffHook(r.now))
    out = [a for k in "911" for a in r.key(k)]
    [report] = [a for a in out if isinstance(a, ev.Enqueue)]
    assert report.payload["location"]["civic"]["RD"] == "Oak"


def test_hanging_up_without_confirming_asks_again_next_time() -> None:
    r = Rig([HOME])
    r.move()
    r.do(OffHook(r.now))
    r.do(OnHook(r.now))
    assert kinds(r.do(OffHook(r.now)), ev.PlayPrompt) == [ev.PlayPrompt("moved-0")]


def test_911_keyed_during_the_prompt_dials_at_its_last_digit() -> None:
    r = Rig([HOME], link=False)
    r.move()
    r.do(OffHook(r.now))
    out = r.key("9")
    assert kinds(out, ev.PlayTone) == [ev.PlayTone(None)]  # the prompt stops; digits collect
    assert not kinds(r.key("1"), ev.LineDo)  # "1" is part of the number now, not a confirmation
    out = r.key("1")
    assert out[0] == ev.LineDo("dial", "911")  # the first action, at the last digit
    assert not kinds(out, ev.Request)
    [report] = kinds(out, ev.Enqueue)
    assert report.payload["location"]["state"] == "unconfirmed"  # the address is sent as it is


def test_another_number_keyed_during_the_prompt_is_dialled_as_usual() -> None:
    r = Rig([HOME])
    r.register()
    r.move()
    r.do(OffHook(r.now))
    out = [a for k in "2175550123" for a in r.key(k)]
    [place] = [a for a in out if isinstance(a, ev.CallSignal) and a.kind == "call.place"]
    assert place.fields["number"] == "+12175550123"
    assert not kinds(out, ev.Request)
    assert r.core.location is not None and r.core.location["state"] == "unconfirmed"


@settings(max_examples=60, deadline=None)
@given(before=st.lists(st.sampled_from(["1", "2", "onhook", "offhook"]), max_size=6),
       addresses=st.integers(1, 2))
def test_no_prompt_state_keeps_911_from_dialling(before: list[str], addresses: int) -> None:
    """Whatever was pressed in the prompt before (confirming, choosing, hanging up), lifting and keying
    911 dials it at its last digit."""
    r = Rig([HOME, SHOP][:addresses], link=False)
    r.move()
    for step in before:
        if step == "onhook":
            r.do(OnHook(r.now))
        elif step == "offhook":
            r.do(OffHook(r.now))
        elif r.core.phone.state.value in ("dial-tone", "collecting", "failed"):
            r.key(step)
    r.do(OnHook(r.now))
    r.do(OffHook(r.now))
    out = [a for k in "911" for a in r.key(k)]
    assert ev.LineDo("dial", "911") in out


def test_a_confirmation_made_while_the_registry_is_unreachable_is_sent_after_the_reconnect() -> None:
    r = Rig([HOME])
    r.register()
    r.move()
    r.do(ev.LinkDown("gone"))
    r.do(OffHook(r.now))
    [req] = kinds(r.key("1"), ev.Request)
    out = r.do(ev.RequestFailed(req.key, "link closed", unreachable=True))
    assert not kinds(out, ev.Request)
    again = [a for a in r.do(ev.LinkUp(BOX)) if isinstance(a, ev.Request)
             and isinstance(a.message, LocationConfirmed)]
    assert [a.message for a in again] == [req.message]
    r.do(ev.Reply(again[0].key, messages.Ok()))
    r.do(ev.LinkDown("gone"))
    assert not [a for a in r.do(ev.LinkUp(BOX)) if isinstance(a, ev.Request)
                and isinstance(a.message, LocationConfirmed)]  # acknowledged: not sent a third time


def _report(out: list[ev.Action]) -> dict[str, Any]:
    (rep,) = [a for a in kinds(out, ev.Enqueue) if a.kind == "emergency-call"]
    return dict(rep.payload)


def _dial_911(r: Rig) -> list[ev.Action]:
    r.do(OffHook(r.now))
    out: list[ev.Action] = []
    for k in "911":
        out += r.key(k)
    assert [(a.op, a.number) for a in kinds(out, ev.LineDo)] == [("dial", "911")]  # at once, always
    return out


def test_911_after_gps_is_lost_carries_the_recorded_address_and_no_stale_position() -> None:
    """Found: the report carried the core's last snapshot (told at link-up or a move), so a GPS fix
    from then went to the registry and the contacts as the box's position after the receiver had gone
    quiet; it is now the location service's snapshot at the moment of the call."""
    from roamline.firmware.location.fix import Fix, Quality

    r = Rig([HOME])
    r.where.on_fix(Fix(at=r.now, mode=3, quality=Quality.GPS, lat=39.799, lon=-89.644, error_m=4.0))
    r.do(ev.LocationSnapshot(r.where.snapshot()))  # told with a fresh fix (as at a link-up)
    r.clock.advance(60)  # the receiver says nothing more: the fix is stale
    loc = _report(_dial_911(r))["location"]
    assert loc["civic"] == HOME["civic"] and loc["state"] == "confirmed" and loc["geo"] is None


def test_911_with_a_fresh_fix_carries_it_even_if_the_core_was_told_none() -> None:
    from roamline.firmware.location.fix import Fix, Quality

    r = Rig([HOME])  # told at start: no fix yet
    r.clock.advance(5)
    r.where.on_fix(Fix(at=r.now, mode=3, quality=Quality.GPS, lat=39.799, lon=-89.644, error_m=4.0))
    loc = _report(_dial_911(r))["location"]
    assert loc["geo"]["lat"] == 39.799 and loc["civic"] == HOME["civic"]


def test_911_while_unconfirmed_dials_at_once_and_the_report_says_unconfirmed() -> None:
    r = Rig([HOME, SHOP])
    r.move()
    out = _dial_911(r)
    assert _report(out)["location"]["state"] == "unconfirmed"
    assert _report(out)["location"]["civic"] == HOME["civic"]  # the recorded address on offer
