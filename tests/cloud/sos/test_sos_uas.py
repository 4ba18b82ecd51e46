"""cloud.sos_uas: the answering point's call-back as a SIP server transaction and dialog, sans-I/O —
strict INVITE checks, every ending (answered then BYE either way, refused, cancelled, no ACK) and a
property over the order of events."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.cloud.sos_uas import T1, TRANSITIONS, CallbackCall, State, called_number, check_invite
from roamline.wire import sip

PSAP = ("127.0.0.1", 5080)
LOCAL = ("127.0.0.1", 5070)
SDP = (b"v=0\r\no=psap 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       b"m=audio 6000 RTP/AVP 0\r\n")


def invite(uri: str = "sip:+15550400004@127.0.0.1:5070;user=phone", **over: str) -> bytes:
    h = {"Via": "SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKpsap1",
         "From": "<sip:psap@127.0.0.1>;tag=p1",
         "To": "<sip:+15550400004@127.0.0.1>", "Call-ID": "cb-1@psap", "CSeq": "1 INVITE",
         "Contact": "<sip:psap@127.0.0.1:5080>", "Content-Type": "application/sdp"}
    h.update(over)
    return sip.request("INVITE", uri, [(k, v) for k, v in h.items() if v], SDP).encode()


def in_dialog(method: str, *, to_tag: str | None = "ours", cseq: int = 1,
              branch: str = "z9hG4bKpsap1") -> bytes:
    to = "<sip:+15550400004@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    cseq_v = f"1 {method}" if method in ("ACK", "CANCEL") else f"{cseq} {method}"
    headers = [("Via", f"SIP/2.0/UDP 127.0.0.1:5080;branch={branch}"),
               ("From", "<sip:psap@127.0.0.1>;tag=p1"),
               ("To", to), ("Call-ID", "cb-1@psap"), ("CSeq", cseq_v)]
    return sip.request(method, "sip:callback@127.0.0.1:5070", headers).encode()


def new_call() -> CallbackCall:
    inv = check_invite(sip.parse(invite()))
    return CallbackCall(inv, source=PSAP, local=LOCAL, tag="ours", branch_seed="s")


def status_of(data: bytes) -> int:
    return sip.parse(data).status


def test_called_number_is_strict_e164() -> None:
    assert called_number("sip:+15550400004@x;user=phone") == "+15550400004"
    assert called_number("tel:+15550400004") == "+15550400004"
    for bad in ("sip:alice@x", "sip:15550400004@x", "sip:+0555@x", "mailto:+15550400004",
                "sip:+1555040000412345678@x"):
        with pytest.raises(sip.SipSyntaxError):
            called_number(bad)


@pytest.mark.parametrize("over", [
    {"Via": "SIP/2.0/UDP 127.0.0.1:5080;branch=abc"},  # no RFC 3261 magic cookie
    {"Via": "SIP/2.0/TCP 127.0.0.1:5080;branch=z9hG4bKx"},
    {"From": "<sip:psap@127.0.0.1>"},  # no From tag
    {"To": "<sip:+15550400004@127.0.0.1>;tag=already"},  # a re-INVITE
    {"CSeq": "1 BYE"},
    {"Contact": ""},
])
def test_malformed_invites_are_refused_before_any_state(over: dict[str, str]) -> None:
    with pytest.raises(sip.SipSyntaxError):
        check_invite(sip.parse(invite(**over)))


def test_a_call_back_rings_is_answered_confirmed_and_ended_by_the_answering_point() -> None:
    c = new_call()
    assert c.invite.offer == sip.AudioOffer("127.0.0.1", 6000, (0,))
    (trying,) = c.start(0.0)
    assert status_of(trying.data) == 100 and trying.to == PSAP
    (ringing,) = c.ring(0.1)
    r = sip.parse(ringing.data)
    assert r.status == 180 and sip.tag_of(r.need("To")) == "ours"
    (ok,) = c.answer(("127.0.0.1", 41000), 0.2)
    m = sip.parse(ok.data)
    assert m.status == 200 and sip.parse_sdp(m.body) == sip.AudioOffer("127.0.0.1", 41000, (0,))
    assert m.need("Via") == "SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKpsap1" and m.need("CSeq") == "1 INVITE"
    out, _ = c.poll(0.2 + T1)  # no ACK yet: the 200 again
    assert [status_of(o.data) for o in out] == [200]
    again, _ = c.datagram(invite(), 0.8)  # a retransmitted INVITE gets the 200 again
    assert [status_of(o.data) for o in again] == [200]
    _, events = c.datagram(in_dialog("ACK"), 0.9)
    assert [e.kind for e in events] == ["confirmed"] and c.state is State.CONFIRMED and c.deadline() is None
    out, events = c.datagram(in_dialog("BYE", cseq=2, branch="z9hG4bKpsap2"), 5.0)
    assert [status_of(o.data) for o in out] == [200]
    assert [(e.kind, e.reason) for e in events] == [("ended", "remote-bye")] and c.state is State.ENDED


def test_the_box_hangs_up_with_a_bye_retransmitted_until_answered() -> None:
    c = new_call()
    c.start(0.0)
    c.answer(("127.0.0.1", 41000), 0.1)
    c.datagram(in_dialog("ACK"), 0.2)
    (bye,), _ = c.hangup(1.0)
    b = sip.parse(bye.data)
    assert b.method == "BYE" and b.uri == "sip:psap@127.0.0.1:5080" and bye.to == PSAP
    assert sip.tag_of(b.need("From")) == "ours" and sip.tag_of(b.need("To")) == "p1"
    out, _ = c.poll(1.0 + T1)
    assert [sip.parse(o.data).method for o in out] == ["BYE"]
    ok = sip.response(200, "OK", [("Via", b.need("Via")), ("From", b.need("From")), ("To", b.need("To")),
                                  ("Call-ID", "cb-1@psap"), ("CSeq", "1 BYE")]).encode()
    _, events = c.datagram(ok, 2.0)
    assert [(e.kind, e.reason) for e in events] == [("ended", "local-bye")]


@pytest.mark.parametrize("status", [404, 480])
def test_a_refusal_is_repeated_until_acked(status: int) -> None:
    c = new_call()
    c.start(0.0)
    (r,) = c.refuse(status, "x", 0.0)
    assert status_of(r.data) == status
    out, _ = c.poll(T1)
    assert [status_of(o.data) for o in out] == [status]
    _, events = c.datagram(in_dialog("ACK"), 1.0)
    assert [(e.kind, e.reason) for e in events] == [("ended", "refused")]


def test_cancel_before_the_answer_gives_200_and_487_and_no_ack_ends_it_at_timer_h() -> None:
    c = new_call()
    c.start(0.0)
    c.ring(0.0)
    out, events = c.datagram(in_dialog("CANCEL", to_tag=None), 1.0)
    assert [status_of(o.data) for o in out] == [200, 487] and [e.kind for e in events] == ["cancelled"]
    assert c.answer(("127.0.0.1", 41000), 1.1) == []  # too late: nothing changes
    _, events = c.poll(1.0 + 64 * T1)
    assert [(e.kind, e.reason) for e in events] == [("ended", "refused")]


def test_an_answer_never_acked_ends_with_no_ack() -> None:
    c = new_call()
    c.start(0.0)
    c.answer(("127.0.0.1", 41000), 0.0)
    now, events = 0.0, []
    while not events:
        d = c.deadline()
        assert d is not None and d > now
        now = d
        _, events = c.poll(now)
    assert now == pytest.approx(64 * T1) and [(e.kind, e.reason) for e in events] == [("ended", "no-ack")]


def test_garbage_and_other_calls_are_dropped() -> None:
    c = new_call()
    c.start(0.0)
    assert c.datagram(b"\x00garbage", 0.1) == ([], [])
    other = in_dialog("BYE").replace(b"cb-1@psap", b"cb-2@psap")
    assert c.datagram(other, 0.1) == ([], [])
    out, _ = c.datagram(in_dialog("BYE", cseq=2), 0.1)  # BYE before any answer: no such dialog
    assert [status_of(o.data) for o in out] == [481] and c.state is State.PROCEEDING


OPS = st.sampled_from(["ring", "answer", "refuse", "hangup", "ack", "bye", "cancel", "reinvite", "bye-ok",
                       "poll", "garbage"])


@settings(max_examples=300, deadline=None)
@given(st.lists(OPS, max_size=25))
def test_any_order_of_events_keeps_the_state_table_and_ends_at_most_once(ops: list[str]) -> None:
    c = new_call()
    c.start(0.0)
    now = 0.0
    ended = 0
    confirmed = 0
    for op in ops:
        now += 0.3
        before = c.state
        out: list = []
        events: list = []
        if op == "ring":
            out = c.ring(now)
        elif op == "answer":
            out = c.answer(("127.0.0.1", 41000), now)
        elif op == "refuse":
            out = c.refuse(480, "Temporarily Unavailable", now)
        elif op == "hangup":
            out, events = c.hangup(now)
        elif op == "ack":
            out, events = c.datagram(in_dialog("ACK"), now)
        elif op == "bye":
            out, events = c.datagram(in_dialog("BYE", cseq=2, branch="z9hG4bKb"), now)
        elif op == "cancel":
            out, events = c.datagram(in_dialog("CANCEL", to_tag=None), now)
        elif op == "reinvite":
            out, events = c.datagram(invite(), now)
        elif op == "bye-ok":
            ok = sip.response(200, "OK", [("Via", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKs1"),
                                          ("From", "<sip:x>;tag=ours"), ("To", "<sip:psap@127.0.0.1>;tag=p1"),
                                          ("Call-ID", "cb-1@psap"), ("CSeq", "1 BYE")]).encode()
            out, events = c.datagram(ok, now)
        elif op == "poll":
            d = c.deadline()
            if d is not None:
                now = max(now, d)
                out, events = c.poll(now)
        else:
            out, events = c.datagram(b"INVITE nonsense\r\n\r\n", now)
        assert c.state is before or c.state in TRANSITIONS[before]
        for o in out:
            m = sip.parse(o.data)  # everything we send parses
            assert o.to == PSAP and m.need("Call-ID") == "cb-1@psap"
        ended += sum(e.kind == "ended" for e in events)
        confirmed += sum(e.kind == "confirmed" for e in events)
        if c.state is State.ENDED:
            assert c.deadline() is None
        elif c.state in (State.ANSWERED, State.REFUSED, State.CLOSING):
            assert c.deadline() is not None  # waiting on the peer: a timer always ends the wait
    while c.state in (State.ANSWERED, State.REFUSED, State.CLOSING):  # the peer goes silent
        d = c.deadline()
        assert d is not None
        now = max(now, d)
        _, events = c.poll(now)
        ended += sum(e.kind == "ended" for e in events)
    assert ended <= 1 and confirmed <= 1
    assert (ended == 1) == (c.state is State.ENDED)


def tls_call() -> CallbackCall:
    inv = check_invite(sip.parse(invite(Via="SIP/2.0/TLS 127.0.0.1:5080;branch=z9hG4bKpsap1")), "tls")
    return CallbackCall(inv, source=PSAP, local=LOCAL, tag="ours", branch_seed="s", transport="tls")


def test_the_top_via_must_name_the_transport_the_invite_came_over() -> None:
    with pytest.raises(sip.SipSyntaxError, match=r"SIP/2\.0/TLS"):
        check_invite(sip.parse(invite()), "tls")  # a UDP Via over TLS
    with pytest.raises(sip.SipSyntaxError, match=r"SIP/2\.0/UDP"):
        check_invite(sip.parse(invite(Via="SIP/2.0/TLS 127.0.0.1:5080;branch=z9hG4bKpsap1")))


def test_over_tls_a_refusal_is_sent_once_and_ends_at_timer_h() -> None:
    c = tls_call()
    c.start(0.0)
    (out,) = c.refuse(403, "Forbidden", 0.1)
    assert status_of(out.data) == 403
    assert c.deadline() == pytest.approx(0.1 + 64 * T1)  # no timer G: only H
    assert c.poll(0.1 + T1) == ([], [])
    _, events = c.poll(0.1 + 64 * T1)
    assert [e.reason for e in events] == ["refused"]


def test_over_tls_the_200_is_still_retransmitted_until_the_ack_and_says_sips() -> None:
    c = tls_call()
    c.start(0.0)
    (ok,) = c.answer(("127.0.0.1", 7000), 0.1)
    assert sip.uri_of(sip.parse(ok.data).need("Contact")) == "sips:callback@127.0.0.1:5070"
    assert c.deadline() == pytest.approx(0.1 + T1)  # RFC 3261 §13.3.1.4: whatever the transport
    (again,), _ = c.poll(0.1 + T1)
    assert again.data == ok.data
    c.datagram(in_dialog("ACK", branch="z9hG4bKack").replace(b"SIP/2.0/UDP", b"SIP/2.0/TLS"), 1.0)
    assert c.state is State.CONFIRMED
    (bye,), _ = c.hangup(2.0)
    assert sip.parse(bye.data).need("Via").startswith("SIP/2.0/TLS ")
    assert c.deadline() == pytest.approx(2.0 + 64 * T1)  # our BYE is not retransmitted over TLS
