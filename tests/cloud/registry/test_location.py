"""The registry's side of location (issue 11): welcome tells the box its public address, registrations
carry checked snapshots, and location.unconfirmed / location.confirmed mark and clear the box's state
(shown by `where`) with an event of who confirmed which address and when."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from roamline.wire.errors import ErrorCode
from roamline.wire.messages import Error, LocationConfirmed, LocationUnconfirmed, Ok, Registered, Welcome

NUM = "+15551230001"
HOME = {"country": "US", "A1": "IL", "A3": "Springfield", "RD": "Elm Street", "HNO": "12", "FLR": "2"}
WORK = {"country": "US", "A1": "IL", "A3": "Springfield", "RD": "Oak Avenue", "HNO": "400"}


@pytest.fixture
def world(harness: Any) -> Any:
    h = harness
    h.acct = h.account("Ann", NUM)
    h.box_a = h.enroll_box("a")
    h.card = h.enroll_card(h.acct)
    box = h.store.get_box(h.box_a.box_id)
    h.store.put_box(dataclasses.replace(box, location={"civic": HOME, "method": "installer"}))
    return h


def test_welcome_carries_the_peer_address_the_registry_saw(world: Any) -> None:
    h = world
    h.registry.connection_opened("c1", h.now, peer="198.51.100.23:50123")
    h._open.add("c1")
    w = h.hello("c1", h.box_a)
    assert isinstance(w, Welcome) and w.peer_address == "198.51.100.23:50123"
    h.connect("c2")
    w2 = h.hello("c2", h.box_a)
    assert isinstance(w2, Welcome) and w2.peer_address == ""  # unknown stays unknown, not made up


def test_a_malformed_registration_snapshot_is_refused(world: Any) -> None:
    h = world
    h.hello("c1", h.box_a)
    for bad in ({"civic": "12 Elm Street"}, {"civic": HOME, "geo": {"lat": 91, "lon": 0, "at": 1.0}},
                {"civic": HOME, "network": {"public": "not-an-ip"}}, {"civic": HOME, "state": "lost"}):
        msg = h.register_msg("c1", h.box_a, h.card)
        r = h.reply("c1", dataclasses.replace(msg, location=bad))
        assert isinstance(r, Error) and r.code is ErrorCode.BAD_BODY, (bad, r)
    assert isinstance(h.reply("c1", h.register_msg("c1", h.box_a, h.card)), Registered)


def test_unconfirmed_then_confirmed_by_the_holder_is_recorded_and_shown(world: Any) -> None:
    h = world
    h.hello("c1", h.box_a)
    assert isinstance(h.reply("c1", h.register_msg("c1", h.box_a, h.card)), Registered)
    r = h.reply("c1", LocationUnconfirmed(at=h.now, reason="moved 1234 m", distance_m=1234.0))
    assert isinstance(r, Ok)
    box = h.store.get_box(h.box_a.box_id)
    assert box.location["state"] == "unconfirmed" and box.location["unconfirmed"]["reason"] == "moved 1234 m"
    [entry] = h.registry.where(NUM, h.now)
    assert entry.location_state == "unconfirmed"

    r = h.reply("c1", LocationConfirmed(at=h.now + 5, by=h.card.card_id, address=1, civic=WORK))
    assert isinstance(r, Ok)
    box = h.store.get_box(h.box_a.box_id)
    assert box.location["state"] == "confirmed" and box.location["civic"] == WORK
    assert box.location["confirmed"] == {"at": h.now + 5, "by": h.card.card_id, "holder": h.acct,
                                         "address": 1}
    assert "unconfirmed" not in box.location
    [entry] = h.registry.where(NUM, h.now)
    assert entry.location_state == "confirmed"
    kinds = [(e.kind, e.fields) for e in h.store.events(50)]
    confirmed = [f for k, f in kinds if k == "location-confirmed"]
    assert confirmed and confirmed[0]["by"] == h.card.card_id and confirmed[0]["civic"] == WORK
    assert any(k == "location-unconfirmed" for k, _ in kinds)


def test_a_confirmation_must_name_a_dispatchable_address(world: Any) -> None:
    h = world
    h.hello("c1", h.box_a)
    r = h.reply("c1", LocationConfirmed(at=h.now, by="handset", address=0, civic={**HOME, "POBOX": "9"}))
    assert isinstance(r, Error) and r.code is ErrorCode.BAD_BODY
    assert h.store.get_box(h.box_a.box_id).location == {"civic": HOME, "method": "installer"}  # untouched


def test_location_messages_need_a_verified_hello(world: Any) -> None:
    h = world
    h.connect("c9")
    r = h.reply("c9", LocationUnconfirmed(at=h.now, reason="x"))
    assert isinstance(r, Error) and r.code is ErrorCode.NOT_AUTHENTICATED


def test_the_confirming_holder_is_recorded_only_for_a_card_registered_at_this_box(world: Any) -> None:
    h = world
    h.hello("c1", h.box_a)
    other = h.enroll_card(h.account("Bob", "+15551230002"))  # issued, but not registered at box a
    for by, holder in (("handset", None), (other.card_id, None)):
        assert isinstance(h.reply("c1", LocationConfirmed(at=h.now, by=by, address=0, civic=HOME)), Ok)
        confirmed = h.store.get_box(h.box_a.box_id).location["confirmed"]
        assert (confirmed["by"], confirmed["holder"]) == (by, holder)
    assert isinstance(h.reply("c1", h.register_msg("c1", h.box_a, h.card)), Registered)
    confirm = LocationConfirmed(at=h.now, by=h.card.card_id, address=0, civic=HOME)
    assert isinstance(h.reply("c1", confirm), Ok)
    assert h.store.get_box(h.box_a.box_id).location["confirmed"]["holder"] == h.acct
