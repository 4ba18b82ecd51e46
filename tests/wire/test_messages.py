from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.wire.calls import CALL_MESSAGES
from roamline.wire.errors import (
    BadBody,
    ErrorCode,
    LinkError,
    MalformedFrame,
    UnknownType,
    UnsupportedVersion,
)
from roamline.wire.framing import Frame, FrameDecoder
from roamline.wire.local_services import Outcome as LocalOutcome
from roamline.wire.local_services import ServiceResolve, ServiceResolved
from roamline.wire.messages import (
    MESSAGE_TYPES,
    Ack,
    BoxList,
    BoxListed,
    CardSlot,
    Deliver,
    Deregister,
    Enroll,
    Enrolled,
    EnrollKind,
    Error,
    Hello,
    HolderProfile,
    LocationConfirmed,
    LocationUnconfirmed,
    Message,
    NonceIssued,
    NoncePurpose,
    NonceRequest,
    Ok,
    Ping,
    Pong,
    Refresh,
    Refreshed,
    Register,
    Registered,
    Revoked,
    RevokedKind,
    Superseded,
    Welcome,
    encode_message,
    error_for,
    from_frame,
    to_frame,
)
from roamline.wire.voicemail import VOICEMAIL_MESSAGES

SAMPLES: list[Message] = [
    NonceRequest(purpose=NoncePurpose.HELLO),
    NonceIssued(nonce=bytes(range(32)), expires_in=30.0, purpose=NoncePurpose.REGISTER),
    Hello(
        cert_pem="-----BEGIN CERTIFICATE-----\n...",
        nonce=b"\x00" * 32,
        signature=b"\x30\x44sig",
        software="1.0",
    ),
    Welcome(box_id="box-0123456789abcdef", server_time=1.8e9, lease_s=120.0, keepalive_s=15.0),
    Register(card_cert_pem="pem", card_id="00" * 16, nonce=b"n" * 32, signature=b"s", location={"lat": 1.5}),
    Register(card_cert_pem="pem", card_id="00" * 16, nonce=b"n" * 32, signature=b"s"),
    Registered(
        registration_id="r1",
        card_id="00" * 16,
        account="acct-1",
        holder="Ada",
        numbers=("+15551230000", "+15551230001"),
        profile={"speed": {"2": "+1555"}},
        lease_s=120.0,
        seq=7,
    ),
    Deregister(card_id="00" * 16),
    Ok(),
    Refresh(card_ids=("a", "b")),
    Refreshed(lease_s=120.0, missing=("b",)),
    Superseded(card_id="c", registration_id="r2", at=1.8e9),
    Revoked(kind=RevokedKind.BOX, id="box-0123456789abcdef"),
    HolderProfile(card_id="c", profile={"ring": "distinctive-2"}, seq=3),
    Error(code=ErrorCode.STALE_NONCE, message="nonce expired"),
    Ping(),
    Pong(),
    Enroll(token="rlt_x", csr_pem="csr", kind=EnrollKind.CARD, account="acct-1", card_id="00" * 16,
           slot=CardSlot.PIV_AUTH),
    Enrolled(cert_pem="c", ca_cert_pem="ca", id="box-0123456789abcdef"),
    Deliver(key="k-1", kind="call-record", payload={"duration_s": 12}),
    Ack(keys=("k-1",)),
    BoxList(limit=20),
    BoxListed(boxes=({"id": "box-0123456789abcdef", "name": "shop", "revoked": False},)),
    Welcome(box_id="box-0123456789abcdef", server_time=1.8e9, lease_s=120.0, keepalive_s=15.0,
            peer_address="[2001:db8::5]:4433"),
    LocationUnconfirmed(at=1.8e9, reason="moved 812 m", distance_m=812.0,
                        location={"civic": {"country": "US"}, "state": "unconfirmed"}),
    LocationUnconfirmed(at=1.8e9, reason="network changed: gateway"),
    LocationConfirmed(at=1.8e9, by="00" * 16, address=1, civic={"country": "US", "RD": "Oak Avenue"}),
    ServiceResolve(card_id="0a" * 16, code="**1"),
    ServiceResolve(card_id="0a" * 16, code="311"),
    ServiceResolved(code="**1", outcome=LocalOutcome.RESOLVED, number="+12175550101", name="Luigi's",
                    category="pizza", distance_m=140.2),
    ServiceResolved(code="411", outcome=LocalOutcome.NO_SERVICE, category="411"),
]


def _envelope_ids(msg: Message) -> dict[str, str]:
    return {"request": {"id": "q1"}, "reply": {"re": "q1"}, "push": {}}[msg.KIND]


def test_every_registered_type_has_a_sample() -> None:
    # the call messages have theirs in test_calls.py, the voicemail ones in test_voicemail.py
    assert {type(m) for m in SAMPLES} == set(MESSAGE_TYPES.values()) - set(CALL_MESSAGES) - set(
        VOICEMAIL_MESSAGES)


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: m.TYPE)
def test_round_trip_through_bytes(msg: Message) -> None:
    ids = _envelope_ids(msg)
    data = encode_message(msg, **ids)
    frames = FrameDecoder().feed(data)
    assert len(frames) == 1
    env = from_frame(frames[0])
    assert env.message == msg
    assert env.id == ids.get("id") and env.re == ids.get("re") and env.v == 1


def test_bytes_are_base64_on_the_wire() -> None:
    frame = to_frame(NonceIssued(nonce=b"\xff\x00", expires_in=1, purpose=NoncePurpose.HELLO), re="1")
    assert frame.body["nonce"] == "/wA="
    assert frame.body["purpose"] == "hello"


def test_unsupported_version() -> None:
    with pytest.raises(UnsupportedVersion) as info:
        from_frame(Frame(v=2, type="ping", id="1"))
    assert info.value.code is ErrorCode.UNSUPPORTED_VERSION


def test_unknown_type() -> None:
    with pytest.raises(UnknownType) as info:
        from_frame(Frame(v=1, type="frob.nicate", id="1"))
    assert info.value.code is ErrorCode.UNKNOWN_TYPE


@pytest.mark.parametrize(
    ("mtype", "body", "where"),
    [
        ("nonce", {}, "purpose"),
        ("enroll", {"token": "t", "csr_pem": "c", "kind": "card", "slot": "9c"}, "slot"),
        ("nonce", {"purpose": "lunch"}, "purpose"),
        ("nonce-issued", {"nonce": "not base64!", "expires_in": 1, "purpose": "hello"}, "nonce"),
        ("nonce-issued", {"nonce": 5, "expires_in": 1, "purpose": "hello"}, "nonce"),
        (
            "registered",
            {
                "registration_id": "r",
                "card_id": "c",
                "account": "a",
                "holder": "h",
                "numbers": "+1555",
                "profile": {},
                "lease_s": 1,
                "seq": 1,
            },
            "numbers",
        ),
        (
            "registered",
            {
                "registration_id": "r",
                "card_id": "c",
                "account": "a",
                "holder": "h",
                "numbers": [],
                "profile": {},
                "lease_s": 1,
                "seq": "1",
            },
            "seq",
        ),
        ("deregister", {"card_id": 7}, "card_id"),
        ("error", {"code": 5}, "code"),
        ("ack", {"keys": [1, 2]}, "keys"),
        ("welcome", {"box_id": "b", "server_time": True, "lease_s": 1, "keepalive_s": 1}, "server_time"),
    ],
)
def test_bad_bodies(mtype: str, body: dict[str, object], where: str) -> None:
    kind = MESSAGE_TYPES[mtype].KIND
    frame = Frame(
        v=1, type=mtype, body=body, id="1" if kind == "request" else None, re="1" if kind == "reply" else None
    )
    with pytest.raises(BadBody, match=where) as info:
        from_frame(frame)
    assert info.value.code is ErrorCode.BAD_BODY
    assert "\n" not in str(info.value)


def test_unknown_error_codes_read_as_internal() -> None:
    env = from_frame(Frame(v=1, type="error", re="1", body={"code": "from-the-future", "message": "m"}))
    assert env.message == Error(code=ErrorCode.INTERNAL, message="m")


def test_unknown_body_fields_are_ignored() -> None:
    env = from_frame(Frame(v=1, type="deregister", id="1", body={"card_id": "c", "future": [1]}))
    assert env.message == Deregister(card_id="c")


def test_requests_need_id_and_replies_need_re() -> None:
    with pytest.raises(MalformedFrame):
        from_frame(Frame(v=1, type="ping"))
    with pytest.raises(MalformedFrame):
        from_frame(Frame(v=1, type="pong"))
    with pytest.raises(ValueError):
        to_frame(Ping())
    with pytest.raises(ValueError):
        to_frame(Pong())
    # error may stand alone (e.g. answering a frame that could not be parsed)
    assert from_frame(to_frame(Error(code=ErrorCode.BAD_FRAME))).re is None


def test_error_for_maps_codes() -> None:
    assert error_for(UnknownType("x")).code is ErrorCode.UNKNOWN_TYPE
    internal = error_for(RuntimeError("secret detail"))
    assert internal.code is ErrorCode.INTERNAL and "secret" not in internal.message


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
    max_leaves=12,
)
_field_names = st.sampled_from(
    ["purpose", "nonce", "expires_in", "cert_pem", "signature", "card_id", "card_ids", "numbers", "profile",
     "code", "keys", "kind", "id", "payload", "lease_s", "seq", "location", "box", "token"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(sorted(MESSAGE_TYPES)) | st.text(max_size=10),
    st.dictionaries(_field_names | st.text(max_size=8), _json, max_size=8),
    st.integers(0, 3),
)
def test_arbitrary_bodies_only_raise_typed_errors(mtype: str, body: dict[str, object], v: int) -> None:
    frame = Frame(v=v, type=mtype or "x", body=body, id="1", re="1")
    try:
        env = from_frame(frame)
    except LinkError as exc:
        assert isinstance(exc.code, ErrorCode) and "\n" not in str(exc)
        return
    # whatever validated must encode back to the same message
    again = from_frame(to_frame(env.message, id="1", re="1"))
    assert again.message == env.message


def test_expect_names_the_wrong_reply() -> None:
    from roamline.wire.errors import BadBody
    from roamline.wire.messages import Pong, Welcome, expect

    pong = Pong()
    assert expect(pong, Pong) is pong
    with pytest.raises(BadBody, match="expected welcome, got pong"):
        expect(pong, Welcome)


def test_an_unregistered_message_class_is_refused_and_first_use_from_many_threads_agrees() -> None:
    import threading
    from dataclasses import dataclass
    from typing import ClassVar

    from roamline.wire import messages

    @dataclass(frozen=True, slots=True, kw_only=True)
    class Stray(messages.Message):
        TYPE: ClassVar[str] = "ping"  # a wire name that is registered, but to another class
        KIND: ClassVar[messages.Kind] = "push"

    with pytest.raises(UnknownType, match="not registered"):
        messages.body_of(Stray())
    with pytest.raises(UnknownType, match="not registered"):
        messages.to_frame(Stray())
    # msgspec learns a class on its first conversion: eight threads doing it at once all get it right
    listed = messages.BoxListed(boxes=({"id": "b1", "revoked": False},))
    frame = to_frame(listed, re="1")
    got: list[object] = []
    start = threading.Barrier(8)

    def first_use() -> None:
        start.wait()
        got.append(from_frame(frame).message)

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [listed] * 8


def test_every_registered_type_resolves_its_annotations() -> None:
    """A name an annotation uses that is not what the module means (a shadowed ``Meta``) fails here, not
    at the first frame of that type in the field."""
    import dataclasses

    import msgspec

    for mtype, cls in sorted(MESSAGE_TYPES.items()):
        info = msgspec.inspect.type_info(cls)
        assert isinstance(info, msgspec.inspect.DataclassType), mtype
        assert {f.name for f in info.fields} == {f.name for f in dataclasses.fields(cls)}, mtype
