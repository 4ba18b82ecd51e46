"""Rights on host lines, enforced by the registry when it routes a call out and signed into the dial:
each refusal, the grant the host box gets, the length limit warned then cut, a budget spent mid-call."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from roamline.cloud.records import LineRight
from roamline.cloud.router import Router, RouterConfig
from roamline.wire import grant as wg
from roamline.wire import identity
from roamline.wire.calls import (
    CallHangup,
    CallPlace,
    CallPlaced,
    CallProgress,
    CallRefused,
    EndReason,
    LineDial,
    LineHangup,
    LineResult,
    LineResultReply,
    LineState,
    LineStateReport,
    ProgressState,
    RefuseReason,
)

from .routing_kit import Kit, make_kit, requests, sends

HOST_LINE = "+15551230000"
DEST = "+15559990000"


@pytest.fixture
def ca() -> identity.CertificateAuthority:
    return identity.CertificateAuthority.create(now=1_800_000_000.0)


@pytest.fixture
def kit(tmp_path: Path, ca: identity.CertificateAuthority) -> Iterator[Kit]:
    k = make_kit(tmp_path)
    k.router = Router(k.store, RouterConfig(warn_before_s=30.0), grant_key=ca.key)
    k.box("host", line=HOST_LINE)
    yield k
    k.store.close()


def place(kit: Kit, card: str, call_id: str, number: str = DEST) -> list:  # type: ignore[type-arg]
    return kit.send("box-a", CallPlace(call_id=call_id, card_id=card, number=number))


def refused(out: list) -> CallRefused:  # type: ignore[type-arg]
    (msg,) = sends(out, "conn-a")
    assert isinstance(msg, CallRefused), msg
    return msg


@pytest.mark.parametrize(
    ("right", "reason"),
    [
        (LineRight(HOST_LINE, "acct-ada", call_out=False), "no right to call out"),
        (LineRight(HOST_LINE, "acct-ada", prefixes=("+1555888",)), "not among the numbers allowed"),
        (LineRight(HOST_LINE, "acct-ada", blocked=("+1555999",)), "blocked on this line"),
        (LineRight(HOST_LINE, "acct-ada", spend_limit=5.0, rate_per_min=0.5, spent=5.0), "budget"),
    ],
)
def test_each_right_refuses_at_the_registry(kit: Kit, right: LineRight, reason: str) -> None:
    kit.box("a")
    ada = kit.holder("ada", "+15551110000", at="box-a")
    kit.store.put_line_right(right)
    msg = refused(place(kit, ada, "c-00000000000000e1"))
    assert msg.reason is RefuseReason.NO_RIGHTS and reason in msg.message
    assert requests(place(kit, ada, "c-00000000000000e2", "+15559990000"), "conn-host") == []
    assert kit.store.get_call("c-00000000000000e1").outcome == "refused"  # type: ignore[union-attr]


def test_the_dial_carries_the_rights_signed_by_the_registry(kit: Kit,
                                                            ca: identity.CertificateAuthority) -> None:
    kit.box("a")
    ada = kit.holder("ada", "+15551110000", at="box-a")
    kit.store.put_line_right(LineRight(HOST_LINE, "acct-ada", max_call_s=600.0, prefixes=("+1555",)))
    out = place(kit, ada, "c-00000000000000e3")
    (dial,) = requests(out, "conn-host")
    assert isinstance(dial.message, LineDial)
    g = wg.verify(dial.message.grant, ca.certificate.public_key(), call_id="c-00000000000000e3",  # type: ignore[arg-type]
                  line=HOST_LINE, number=DEST, now=kit.now)
    assert (g.account, g.max_call_s) == ("acct-ada", 600.0)


def test_a_call_over_its_length_is_warned_then_cut_and_billed(kit: Kit) -> None:
    kit.box("a")
    ada = kit.holder("ada", "+15551110000", at="box-a")
    kit.store.put_line_right(LineRight(HOST_LINE, "acct-ada", max_call_s=120.0, rate_per_min=0.10))
    cid = "c-00000000000000e4"
    start = kit.now
    out = place(kit, ada, cid)
    assert isinstance(sends(out, "conn-a")[0], CallPlaced)
    (dial,) = requests(out, "conn-host")
    kit.router.reply_received(dial.ref, LineResultReply(call_id=cid, result=LineResult.DIALLED), kit.now)
    kit.now += 10
    kit.send("box-host", LineStateReport(call_id=cid, state=LineState.ANSWERED, inferred=True))
    assert kit.router.next_deadline() == pytest.approx(start + 90.0)
    assert kit.router.poll(start + 89.0) == []
    out = kit.router.poll(start + 90.0)
    assert sends(out, "conn-a") == [CallProgress(call_id=cid, state=ProgressState.WARNING)]
    out = kit.router.poll(start + 120.0)
    hangup = LineHangup(call_id=cid, reason=EndReason.LIMIT)
    assert [r.message for r in requests(out, "conn-host")] == [hangup]
    assert [r.message for r in requests(out, "conn-a")] == [CallHangup(call_id=cid, reason=EndReason.LIMIT)]
    rec = kit.store.get_call(cid)
    assert rec is not None and rec.end_reason == "limit" and rec.duration_s == pytest.approx(110.0)
    right = kit.store.line_right("acct-ada", HOST_LINE)
    assert right is not None and right.spent == pytest.approx(110.0 / 60 * 0.10)


def test_a_spending_limit_reached_mid_call_cuts_it(kit: Kit) -> None:
    """2.00 left at 0.50 a minute buys 4 minutes: the call is cut there, and the next one is refused."""
    kit.box("a")
    ada = kit.holder("ada", "+15551110000", at="box-a")
    kit.store.put_line_right(LineRight(HOST_LINE, "acct-ada", spend_limit=3.0, spent=1.0, rate_per_min=0.5))
    cid = "c-00000000000000e5"
    start = kit.now
    (dial,) = requests(place(kit, ada, cid), "conn-host")
    kit.router.reply_received(dial.ref, LineResultReply(call_id=cid, result=LineResult.DIALLED), kit.now)
    kit.send("box-host", LineStateReport(call_id=cid, state=LineState.ANSWERED))
    assert kit.router.next_deadline() == pytest.approx(start + 240.0 - 30.0)
    kit.router.poll(start + 210.0)
    out = kit.router.poll(start + 240.0)
    assert any(r.message == LineHangup(call_id=cid, reason=EndReason.LIMIT) for r in requests(out))
    right = kit.store.line_right("acct-ada", HOST_LINE)
    assert right is not None and right.spent == pytest.approx(3.0)
    msg = refused(place(kit, ada, "c-00000000000000e6"))
    assert "budget" in msg.message
    kit.store.put_line_right(dataclasses.replace(right, spent=0.0))  # `cloud rights --reset-spent`
    assert isinstance(sends(place(kit, ada, "c-00000000000000e7"), "conn-a")[0], CallPlaced)
