"""cloud.sos_uac: the emergency INVITE client, sans-I/O — what it sends, its timers, and every way a call
ends (answered then BYE either way, refused, cancelled before and after a provisional, no answer)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.cloud.sos_uac import T1, TRANSITIONS, SosCall, SosRequest, State
from roamline.wire import pidf, sip

CIVIC = {"country": "US", "A1": "IL", "A3": "Shelbyville", "HNO": "12", "RD": "Mill Lane"}
DOC = pidf.build(entity="pres:box-c@roamline.invalid", civic=CIVIC, civic_at=1.8e9)
PSAP = "sip:psap@127.0.0.1:5070"


def new_call(*, call_back: str = "+15550400004", with_pidf: bool = True) -> SosCall:
    req = SosRequest(call_id="call-1234abcd", psap_uri=PSAP, local=("127.0.0.1", 5999),
                     rtp=("127.0.0.1", 40000),
                     call_back=call_back, box_id="box-c", pidf=DOC if with_pidf else None)
    return SosCall(req, tag="ourtag", branch_seed="s")


def reply(invite: bytes, status: int, reason: str, *, sdp: bool = False, cseq: str | None = None) -> bytes:
    m = sip.parse(invite)
    to = m.need("To") + ("" if status == 100 else ";tag=psaptag")
    headers = [("Via", m.need("Via")), ("From", m.need("From")), ("To", to), ("Call-ID", m.need("Call-ID")),
               ("CSeq", cseq or m.need("CSeq")), ("Contact", "<sip:psap@127.0.0.1:5070>")]
    body = b""
    if sdp:
        headers.append(("Content-Type", "application/sdp"))
        body = b"v=0\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n"
    return sip.response(status, reason, headers, body).encode()


def test_the_invite_says_sos_location_by_reference_and_value_and_the_call_back_number() -> None:
    c = new_call()
    (out,) = c.start(0.0)
    assert out.to == ("127.0.0.1", 5070)
    m = sip.parse(out.data)
    assert m.method == "INVITE" and m.uri == "urn:service:sos" and m.need("To") == "<urn:service:sos>"
    assert m.need("Route") == f"<{PSAP};lr>"
    assert m.need("P-Asserted-Identity") == "<tel:+15550400004>"
    assert sip.uri_of(m.need("From")) == "sip:+15550400004@roamline.invalid;user=phone"
    assert m.need("Geolocation-Routing") == "no" and m.need("Priority") == "emergency"
    parts = sip.parse_multipart(m.body, m.need("Content-Type"))
    assert [p.content_type for p in parts] == ["application/sdp", "application/pidf+xml"]
    assert sip.uri_of(m.need("Geolocation")) == f"cid:{parts[1].content_id}"
    assert parts[1].body == DOC
    assert sip.parse_sdp(parts[0].body) == sip.AudioOffer("127.0.0.1", 40000, (0,))


def test_no_location_and_no_call_back_number_still_make_an_invite() -> None:
    (out,) = new_call(call_back="", with_pidf=False).start(0.0)
    m = sip.parse(out.data)
    assert m.get("Geolocation") is None and m.get("P-Asserted-Identity") is None
    assert m.need("Content-Type") == "application/sdp" and "box-c@" in m.need("From")


def test_answered_then_acked_then_the_answering_point_hangs_up() -> None:
    c = new_call()
    (inv,) = c.start(0.0)
    out, ev = c.datagram(reply(inv.data, 180, "Ringing"), 0.1)
    assert [e.kind for e in ev] == ["ringing"] and out == [] and c.state is State.PROCEEDING
    out, ev = c.datagram(reply(inv.data, 200, "OK", sdp=True), 0.2)
    assert [e.kind for e in ev] == ["answered"] and ev[0].rtp == ("127.0.0.1", 6000)
    (ack,) = out
    a = sip.parse(ack.data)
    assert a.method == "ACK" and a.uri == "sip:psap@127.0.0.1:5070" and sip.tag_of(a.need("To")) == "psaptag"
    assert sip.parse(inv.data).need("Via") != a.need("Via")  # a 2xx ACK is a transaction of its own
    out, ev = c.datagram(reply(inv.data, 200, "OK", sdp=True), 0.7)  # retransmitted 2xx: ACK again
    assert [o.data for o in out] == [ack.data] and ev == []
    assert c.deadline() is None  # nothing to retransmit while the call is up
    bye = sip.request("BYE", "sip:box-c@127.0.0.1:5999", [
        ("Via", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKp"), ("From", "<urn:service:sos>;tag=psaptag"),
        ("To", sip.parse(inv.data).need("From")), ("Call-ID", "call-1234abcd@roamline.invalid"),
        ("CSeq", "1 BYE")]).encode()
    out, ev = c.datagram(bye, 5.0)
    assert [e.kind for e in ev] == ["ended"] and ev[0].reason == "remote-bye" and c.state is State.ENDED
    assert sip.parse(out[0].data).status == 200


def test_we_hang_up_an_answered_call_with_a_bye_retransmitted_until_answered() -> None:
    c = new_call()
    (inv,) = c.start(0.0)
    c.datagram(reply(inv.data, 200, "OK", sdp=True), 0.1)
    (bye,) = c.hangup(1.0)
    b = sip.parse(bye.data)
    assert b.method == "BYE" and b.cseq() == (2, "BYE") and c.state is State.CLOSING
    out, _ = c.poll(1.0 + T1)
    assert [o.data for o in out] == [bye.data]
    out, ev = c.datagram(reply(bye.data, 200, "OK", cseq="2 BYE"), 1.7)
    assert [e.kind for e in ev] == ["ended"] and ev[0].reason == "local-bye" and c.deadline() is None


def test_the_invite_is_retransmitted_doubling_and_given_up_after_64_t1() -> None:
    c = new_call()
    (inv,) = c.start(0.0)
    sent_at = []
    now = 0.0
    while True:
        at = c.deadline()
        assert at is not None
        now = at
        out, ev = c.poll(now)
        if ev:
            break
        sent_at += [now for o in out if o.data == inv.data]
    assert sent_at[:4] == [T1, 3 * T1, 7 * T1, 15 * T1]
    assert [e.kind for e in ev] == ["failed"] and ev[0].status == 0 and now == 64 * T1
    assert c.state is State.FAILED and c.deadline() is None


def test_a_refusal_is_acked_in_its_own_transaction_and_fails_the_call() -> None:
    c = new_call()
    (inv,) = c.start(0.0)
    out, ev = c.datagram(reply(inv.data, 486, "Busy Here"), 0.3)
    (ack,) = out
    a = sip.parse(ack.data)
    assert a.method == "ACK" and a.need("Via") == sip.parse(inv.data).need("Via")
    assert [e.kind for e in ev] == ["failed"] and ev[0].status == 486 and c.state is State.FAILED


def test_hanging_up_before_a_provisional_waits_for_it_then_cancels() -> None:
    c = new_call()
    (inv,) = c.start(0.0)
    assert c.hangup(0.1) == [] and c.state is State.CANCELLING  # no CANCEL before a provisional
    out, _ = c.datagram(reply(inv.data, 100, "Trying"), 0.2)
    (cancel,) = out
    m = sip.parse(cancel.data)
    assert m.method == "CANCEL" and m.uri == "urn:service:sos"
    assert m.need("Via") == sip.parse(inv.data).need("Via")  # the INVITE's transaction
    c.datagram(reply(cancel.data, 200, "OK", cseq="1 CANCEL"), 0.3)
    out, ev = c.datagram(reply(inv.data, 487, "Request Terminated"), 0.4)
    assert sip.parse(out[0].data).method == "ACK"
    assert [e.kind for e in ev] == ["ended"] and ev[0].reason == "cancelled" and c.state is State.ENDED


def test_answered_while_cancelling_is_acked_and_byed() -> None:
    c = new_call()
    (inv,) = c.start(0.0)
    c.datagram(reply(inv.data, 180, "Ringing"), 0.1)
    assert len(c.hangup(0.2)) == 1  # the CANCEL
    out, _ = c.datagram(reply(inv.data, 200, "OK", sdp=True), 0.3)
    assert [sip.parse(o.data).method for o in out] == ["ACK", "BYE"] and c.state is State.CLOSING


def test_an_answer_without_pcmu_is_byed_and_fails() -> None:
    c = new_call()
    (inv,) = c.start(0.0)
    bad = reply(inv.data, 200, "OK", sdp=True).replace(b"RTP/AVP 0", b"RTP/AVP 8")
    out, ev = c.datagram(bad, 0.1)
    assert [sip.parse(o.data).method for o in out] == ["ACK", "BYE"]
    assert [e.kind for e in ev] == ["failed"] and ev[0].status == 488


def test_other_calls_and_garbage_are_dropped() -> None:
    c = new_call()
    (inv,) = c.start(0.0)
    other = reply(inv.data, 200, "OK", sdp=True).replace(b"call-1234abcd@", b"call-other99@")
    assert c.datagram(other, 0.1) == ([], []) and c.datagram(b"\x00garbage", 0.1) == ([], [])
    assert c.state is State.CALLING


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["100", "180", "183", "200", "486", "487", "bye", "hangup", "poll",
                                 "garbage"]), max_size=14))
def test_any_order_of_events_keeps_the_state_table_and_ends_with_no_timer_left(steps: list[str]) -> None:
    c = new_call()
    (inv,) = c.start(0.0)
    now = 0.0
    bye = sip.request("BYE", "sip:box-c@127.0.0.1:5999", [
        ("Via", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKp"), ("From", "<urn:service:sos>;tag=psaptag"),
        ("To", sip.parse(inv.data).need("From")), ("Call-ID", "call-1234abcd@roamline.invalid"),
        ("CSeq", "1 BYE")]).encode()
    for step in steps:
        now += 0.3
        before = c.state
        if step == "hangup":
            c.hangup(now)
        elif step == "poll":
            c.poll(now)
        elif step == "bye":
            c.datagram(bye, now)
        elif step == "garbage":
            c.datagram(b"SIP/2.0 200", now)
        else:
            c.datagram(reply(inv.data, int(step), "x", sdp=step == "200"), now)
        assert c.state is before or c.state in TRANSITIONS[before]
    for _ in range(200):  # left alone, every call reaches an end state (timers run out)
        at = c.deadline()
        if at is None:
            break
        now = max(now, at)
        c.poll(now)
    assert c.deadline() is None
    assert c.state in (State.ENDED, State.FAILED, State.CONFIRMED, State.PROCEEDING)


def test_only_sip_uris_name_an_answering_point() -> None:
    with pytest.raises(Exception, match="sip:"):
        SosCall(SosRequest(call_id="c", psap_uri="tel:911", local=("h", 1), rtp=("h", 2), call_back="",
                           box_id="b", pidf=None), tag="t", branch_seed="s")


def tls_call() -> SosCall:
    req = SosRequest(call_id="call-tls1234", psap_uri="sips:psap@127.0.0.1", local=("127.0.0.1", 5061),
                     rtp=("127.0.0.1", 40000), call_back="+15550400004", box_id="box-c", pidf=DOC,
                     transport="tls")
    return SosCall(req, tag="ourtag", branch_seed="s")


def test_over_tls_the_invite_says_tls_goes_to_5061_is_not_retransmitted_and_timer_b_ends_it() -> None:
    c = tls_call()
    (out,) = c.start(0.0)
    assert out.to == ("127.0.0.1", 5061)  # a sips: URI's default port
    m = sip.parse(out.data)
    assert m.need("Via").startswith("SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK")
    assert sip.uri_of(m.need("Contact")) == "sips:box-c@127.0.0.1:5061"
    assert c.deadline() == 64 * T1  # no timer A on a reliable transport: only timer B
    assert c.poll(T1 * 2) == ([], [])
    out2, events = c.poll(64 * T1)
    assert out2 == [] and [e.kind for e in events] == ["failed"] and c.state is State.FAILED


def test_over_tls_the_bye_is_sent_once_and_timer_f_still_ends_the_call() -> None:
    c = tls_call()
    (inv,) = c.start(0.0)
    c.datagram(reply(inv.data, 200, "OK", sdp=True), 0.1)
    (bye,) = c.hangup(1.0)
    assert sip.parse(bye.data).method == "BYE" and sip.parse(bye.data).need("Via").startswith("SIP/2.0/TLS")
    assert c.deadline() == 1.0 + 64 * T1
    _, events = c.poll(1.0 + 64 * T1)
    assert [e.reason for e in events] == ["timeout"]


def test_a_180_after_a_100_rings_once() -> None:
    c = new_call()
    (inv,) = c.start(0.0)
    assert c.datagram(reply(inv.data, 100, "Trying"), 0.1)[1] == []
    assert [e.kind for e in c.datagram(reply(inv.data, 180, "Ringing"), 0.2)[1]] == ["ringing"]
    assert c.datagram(reply(inv.data, 183, "Session Progress"), 0.3)[1] == []


def test_a_transport_other_than_udp_or_tls_is_refused() -> None:
    from roamline.cloud.errors import UsageError

    req = SosRequest(call_id="c", psap_uri=PSAP, local=("127.0.0.1", 1), rtp=("127.0.0.1", 2), call_back="",
                     box_id="b", pidf=None, transport="tcp")
    with pytest.raises(UsageError):
        SosCall(req, tag="t", branch_seed="s")
