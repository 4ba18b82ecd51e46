"""wire.sip: strict, bounded SIP/SDP/multipart parsing (fed whole and byte by byte) and building."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.wire import sip
from roamline.wire.errors import PeerError

INVITE = (
    b"INVITE urn:service:sos SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\n"
    b"f: <sip:+15550400004@roamline.invalid;user=phone>;tag=abc\r\n"
    b"To: <urn:service:sos>\r\n"
    b"Call-ID: c1@roamline.invalid\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Subject: folded\r\n"
    b"  continuation\r\n"
    b"Content-Length: 4\r\n"
    b"\r\n"
    b"abcd"
)


def test_a_request_parses_with_compact_and_folded_headers() -> None:
    m = sip.parse(INVITE)
    assert m.is_request and m.method == "INVITE" and m.uri == "urn:service:sos"
    assert m.get("From") == "<sip:+15550400004@roamline.invalid;user=phone>;tag=abc"
    assert sip.tag_of(m.need("from")) == "abc" and sip.tag_of(m.need("To")) is None
    assert m.get("subject") == "folded continuation"
    assert m.cseq() == (1, "INVITE") and m.body == b"abcd"
    assert sip.parse(m.encode()) == sip.parse(m.encode())  # re-encodes to something that parses


def test_a_response_parses() -> None:
    r = sip.parse(b"SIP/2.0 180 Ringing\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
    assert not r.is_request and r.status == 180 and r.reason == "Ringing"


@pytest.mark.parametrize("data, why", [
    (INVITE.replace(b"Content-Length: 4", b"Content-Length: 5"), "Content-Length"),
    (INVITE.replace(b"Content-Length: 4\r\n", b""), "no Content-Length"),
    (INVITE.replace(b"\r\n\r\n", b"\r\n"), "end of headers"),
    (INVITE.replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1), "start line"),
    (INVITE.replace(b"INVITE urn", b"invite urn"), "method"),
    (INVITE.replace(b"urn:service:sos SIP", b"<urn> SIP"), "Request-URI"),
    (INVITE.replace(b"To: <urn", b"To <urn"), "header line"),
    (INVITE.replace(b"Call-ID", b"Call ID"), "header line"),
    (INVITE.replace(b"\r\nTo:", b"\nTo:"), "CRLF"),
    (INVITE.replace(b"Content-Length: 4", b"Content-Length: -4"), "number"),
    (b"SIP/2.0 99 Odd\r\nContent-Length: 0\r\n\r\n", "start line"),
    (INVITE + b"x" * 20000, "exceeds"),
    (INVITE.replace(b"Subject: folded", b"X: " + b"y" * 3000), "too long"),
    (INVITE.replace(b"Subject", b"\xffSubject"), "UTF-8"),
])
def test_malformed_messages_are_refused_with_a_reason(data: bytes, why: str) -> None:
    with pytest.raises(sip.SipSyntaxError, match=why):
        sip.parse(data)


def test_too_many_headers_are_refused() -> None:
    many = b"".join(b"X-%d: y\r\n" % i for i in range(sip.MAX_HEADERS + 1))
    with pytest.raises(sip.SipSyntaxError, match="more than"):
        sip.parse(b"BYE sip:a@b SIP/2.0\r\n" + many + b"Content-Length: 0\r\n\r\n")


def test_the_cseq_must_name_a_number_and_a_known_method() -> None:
    m = sip.parse(INVITE.replace(b"CSeq: 1 INVITE", b"CSeq: one INVITE"))
    with pytest.raises(sip.SipSyntaxError, match="CSeq"):
        m.cseq()


token = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789-"), min_size=1, max_size=12)
value = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60).map(str.strip)


@settings(max_examples=150, deadline=None)
@given(method=st.sampled_from(sip.METHODS), headers=st.lists(st.tuples(token, value), max_size=12),
       body=st.binary(max_size=300), chunks=st.integers(1, 7))
def test_built_messages_parse_back_whole_and_fed_byte_by_byte(
    method: str, headers: list[tuple[str, str]], body: bytes, chunks: int
) -> None:
    headers = [(k, v) for k, v in headers if k.lower() not in ("content-length", "l")]
    m = sip.request(method, "sip:psap@127.0.0.1:5070", [*headers, ("CSeq", f"1 {method}")], body)
    data = m.encode()
    back = sip.parse(data)
    assert back.method == method and back.body == body
    assert [(k, v) for k, v in back.headers if k != "Content-Length"] == [*headers, ("CSeq", f"1 {method}")]
    framer = sip.Framer()
    got: list[sip.SipMessage] = []
    stream = b"\r\n" + data + data  # a keep-alive, then two messages back to back
    for i in range(0, len(stream), chunks):
        got += framer.feed(stream[i:i + chunks])
    assert got == [back, back]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_garbage_is_a_syntax_error_or_a_message_never_a_crash(data: bytes) -> None:
    try:
        sip.parse(data)
    except sip.SipSyntaxError:
        pass
    framer = sip.Framer()
    try:
        for b in data:
            framer.feed(bytes([b]))
    except sip.SipSyntaxError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.sampled_from([0, 20, 60, 200]))
def test_mutated_messages_never_crash_the_parser(noise: bytes, at: int) -> None:
    data = INVITE[:at] + noise + INVITE[at:]
    try:
        sip.parse(data)
    except sip.SipSyntaxError:
        pass


def test_sdp_offer_and_answer() -> None:
    offer = sip.sdp_offer("127.0.0.1", 40000, session_id=7)
    a = sip.parse_sdp(offer)
    assert (a.address, a.port, a.payload_types) == ("127.0.0.1", 40000, (0,))
    answer = (b"v=0\r\nc=IN IP4 10.0.0.1\r\nm=video 5000 RTP/AVP 96\r\nm=audio 6000 RTP/AVP 8 0\r\n"
              b"c=IN IP4 10.0.0.2\r\n")
    assert sip.parse_sdp(answer) == sip.AudioOffer("10.0.0.2", 6000, (8, 0))
    for bad, why in [(b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 6000 RTP/AVP 8\r\n", "PCMU"),
                     (b"v=0\r\nm=audio 6000 RTP/AVP 0\r\n", "connection"),
                     (b"v=0\r\nc=IN IP6 ::1\r\nm=audio 6000 RTP/AVP 0\r\n", "IN IP4"),
                     (b"v=0\r\nc=IN IP4 1.2.3.4\r\n", "no audio"),
                     (b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 99999 RTP/AVP 0\r\n", "port"),
                     (b"garbage\r\n", "bad SDP line")]:
        with pytest.raises(sip.SipSyntaxError, match=why):
            sip.parse_sdp(bad)


def test_multipart_round_trip_and_refusals() -> None:
    parts = [sip.Part("application/sdp", b"v=0\r\n"), sip.Part("application/pidf+xml", b"<x/>", "loc@h")]
    body = sip.multipart(parts, "b1")
    assert sip.parse_multipart(body, "multipart/mixed;boundary=b1") == parts
    assert sip.parse_multipart(body, 'multipart/mixed; boundary="b1"') == parts
    with pytest.raises(sip.SipSyntaxError, match="closing"):
        sip.parse_multipart(body[:-8], "multipart/mixed;boundary=b1")
    with pytest.raises(sip.SipSyntaxError, match="boundary"):
        sip.parse_multipart(body, "application/sdp")
    with pytest.raises(PeerError):
        sip.parse_multipart(body.replace(b"Content-Type: application/sdp\r\n", b""),
                            "multipart/mixed;boundary=b1")


def test_uris_and_hosts() -> None:
    named = '"PSAP" <sip:psap@10.0.0.1:5070;transport=udp>;tag=1'
    assert sip.uri_of(named) == "sip:psap@10.0.0.1:5070;transport=udp"
    assert sip.host_port("sip:psap@10.0.0.1:5070;lr") == ("10.0.0.1", 5070)
    assert sip.host_port("sip:psap.example.net") == ("psap.example.net", 5060)
    assert sip.host_port("sip:[::1]:5062") == ("::1", 5062)
    for bad in ("tel:+1555", "sip:psap@:5060", "sip:a@b:0", "sip:a@b:70000"):
        with pytest.raises(sip.SipSyntaxError):
            sip.host_port(bad)


def test_a_blank_folded_line_adds_nothing_to_the_header_value() -> None:
    # found by the sip_message fuzz harness: a whitespace-only continuation left a trailing space, so the
    # message did not re-encode to itself
    from roamline.wire.sip import parse as parse_sip

    msg = parse_sip(b"SIP/2.0 200 OK\r\nCall-ID: x@h\r\n \r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
    assert msg.get("call-id") == "x@h"
    assert parse_sip(msg.encode()).encode() == msg.encode()
