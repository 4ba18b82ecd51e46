"""Voicemail on the link: voicemail.take, and the chunks a recording travels in (strict parser)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.wire import voicemail as vm
from roamline.wire.errors import BadBody
from roamline.wire.framing import MAX_PAYLOAD, Frame, FrameDecoder
from roamline.wire.messages import Deliver, Message, encode_message, from_frame

META = vm.Meta(call_id="box-a-0000000000000001", number="+15550100001", caller="+15550300003",
               caller_name="BOB JONES", started_at=1_800_000_000.0, ended_at=1_800_000_012.5,
               duration_s=12.5, ended="hangup")


def _fed_byte_by_byte(data: bytes) -> list[Frame]:
    dec = FrameDecoder()
    frames: list[Frame] = []
    for i in range(len(data)):
        frames += dec.feed(data[i:i + 1])
    return frames


CARD = "ab" * 16
MID = "vm-00000000000000a1"
SAMPLES = [
    vm.VoicemailTake(call_id="box-a-0000000000000001", message_id=MID, number="+15550100001",
                     greeting="default", max_s=60.0, silence_s=5.0),
    vm.VoicemailList(card_id=CARD),
    vm.VoicemailListed(card_id=CARD, messages=(
        vm.ListedMessage(message_id=MID, state="new", caller="15550300003", caller_name="BOB JONES",
                         started_at=1.8e9, duration_s=12.5, audio_bytes=100_000),
        vm.ListedMessage(message_id="vm-00000000000000a2", state="saved"))),
    vm.VoicemailFetch(card_id=CARD, message_id=MID, seq=3),
    vm.VoicemailAudio(message_id=MID, seq=3, last=True, audio=b"\xff" * vm.MAX_CHUNK_AUDIO),
    vm.VoicemailMark(card_id=CARD, message_id=MID, action=vm.MarkAction.DELETE),
    vm.VoicemailGreeting(card_id=CARD, greeting_id="g-0123456789abcdef", seq=1, last=True,
                         audio=b"\x7f" * 1000),
    vm.VoicemailGreetingFetch(message_id=MID, seq=2),
    vm.VoicemailPin(card_id=CARD, pin="24681357"),
    vm.VoicemailPinChecked(card_id=CARD, result=vm.PinResult.LOCKED),
    vm.VoicemailListed(card_id=CARD, pin_required=True),
]


def test_every_voicemail_type_has_a_sample() -> None:
    assert {type(m) for m in SAMPLES} == set(vm.VOICEMAIL_MESSAGES)


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: m.TYPE)
def test_messages_round_trip_fed_byte_by_byte(msg: Message) -> None:
    ids = {"request": {"id": "r1"}, "reply": {"re": "r1"}, "push": {}}[msg.KIND]
    data = encode_message(msg, **ids)
    assert len(data) < MAX_PAYLOAD
    (frame,) = _fed_byte_by_byte(data)
    assert from_frame(frame).message == msg


@pytest.mark.parametrize(("msg", "field", "value"), [
    (SAMPLES[1], "card_id", "AB" * 16), (SAMPLES[3], "seq", vm.MAX_CHUNKS),
    (SAMPLES[4], "audio", base64.b64encode(b"\0" * (vm.MAX_CHUNK_AUDIO + 1)).decode()),
    (SAMPLES[5], "action", "forward"), (SAMPLES[6], "greeting_id", "default"), (SAMPLES[6], "seq", 16),
    (SAMPLES[8], "pin", "123"), (SAMPLES[8], "pin", "123456789"), (SAMPLES[8], "pin", "12a4"),
    (SAMPLES[8], "pin", "١٢٣٤"), (SAMPLES[9], "result", "maybe"), (SAMPLES[10], "pin_required", "yes"),
])
def test_mailbox_messages_out_of_bounds_are_bad_body(msg: Message, field: str, value: object) -> None:
    ids = {"request": {"id": "r1"}, "reply": {"re": "r1"}, "push": {}}[msg.KIND]
    (frame,) = FrameDecoder().feed(encode_message(msg, **ids))
    body = dict(frame.body, **{field: value})
    with pytest.raises(BadBody, match=field):
        from_frame(Frame(v=frame.v, type=frame.type, body=body, **ids))


def test_a_pin_is_never_in_the_messages_repr() -> None:
    assert "24681357" not in repr(SAMPLES[8]) and "24681357" not in str(SAMPLES[8])


@given(st.text(max_size=10))
@settings(max_examples=200)
def test_the_pin_body_takes_exactly_4_to_8_ascii_digits(pin: str) -> None:
    (frame,) = FrameDecoder().feed(encode_message(SAMPLES[8], id="r1"))
    ok = 4 <= len(pin) <= 8 and pin.isascii() and pin.isdigit()
    try:
        got = from_frame(Frame(v=frame.v, type=frame.type, body=dict(frame.body, pin=pin), id="r1")).message
        assert ok and isinstance(got, vm.VoicemailPin) and got.pin == pin
    except BadBody:
        assert not ok


@pytest.mark.parametrize(("field", "value"), [
    ("max_s", 5.0), ("max_s", 301.0), ("silence_s", 1.0), ("number", "15550100001"),
    ("greeting", "../etc"), ("message_id", "short"),
])
def test_take_out_of_bounds_is_bad_body(field: str, value: object) -> None:
    take = vm.VoicemailTake(call_id="box-a-0000000000000001", message_id="vm-00000000000000a1",
                            number="+15550100001")
    (frame,) = FrameDecoder().feed(encode_message(take, id="r1"))
    body = dict(frame.body, **{field: value})
    with pytest.raises(BadBody, match=field):
        from_frame(Frame(v=frame.v, type=frame.type, body=body, id="r1"))


def test_a_long_message_splits_into_chunks_that_each_fit_one_frame() -> None:
    audio = bytes(range(256)) * 1000  # 256 000 bytes = 32 s
    chunks = vm.split("vm-00000000000000a1", audio, META)
    assert len(chunks) == 8 and [c.seq for c in chunks] == list(range(8))
    assert [c.last for c in chunks] == [False] * 7 + [True] and chunks[-1].meta == META
    assert all(c.meta is None for c in chunks[:-1])
    for c in chunks:
        data = encode_message(Deliver(key=c.key, kind=vm.VOICEMAIL_CHUNK_KIND, payload=c.to_json()), id="d1")
        assert len(data) - 4 <= MAX_PAYLOAD
        (frame,) = FrameDecoder().feed(data)
        env = from_frame(frame)
        assert isinstance(env.message, Deliver)
        assert vm.parse_chunk(env.message.payload) == c
    assert vm.assemble(list(reversed(chunks))) == audio


def test_the_biggest_chunk_frame_is_under_the_limit() -> None:
    c = vm.Chunk("x" * 64, vm.MAX_CHUNKS - 1, True, b"\xff" * vm.MAX_CHUNK_AUDIO, META)
    data = encode_message(Deliver(key=c.key, kind=vm.VOICEMAIL_CHUNK_KIND, payload=c.to_json()), id="d" * 64)
    assert len(data) < MAX_PAYLOAD


def test_an_empty_message_is_one_empty_last_chunk() -> None:
    (only,) = vm.split("vm-00000000000000a1", b"", META)
    assert (only.seq, only.last, only.audio) == (0, True, b"")
    assert vm.parse_chunk(only.to_json()) == only


def test_assemble_refuses_gaps_repeats_and_mixtures() -> None:
    chunks = vm.split("vm-00000000000000a1", b"\x01" * 70_000, META)
    with pytest.raises(vm.VoicemailError, match="missing"):
        vm.assemble([chunks[0], chunks[2]])
    with pytest.raises(vm.VoicemailError, match="missing or repeated"):
        vm.assemble([*chunks, chunks[1]])
    with pytest.raises(vm.VoicemailError, match="last"):
        vm.assemble(chunks[:2])
    other = vm.split("vm-00000000000000b2", b"\x01", META)
    with pytest.raises(vm.VoicemailError, match="more than one"):
        vm.assemble([chunks[0], *other])


def _good() -> dict[str, Any]:
    return vm.Chunk("vm-00000000000000a1", 0, True, b"\x7f" * 10, META).to_json()


@pytest.mark.parametrize(("change", "message"), [
    ({"seq": -1}, "seq"), ({"seq": vm.MAX_CHUNKS}, "seq"), ({"seq": 1.0}, "seq"), ({"seq": True}, "seq"),
    ({"last": 1}, "last"), ({"audio": "not base64!"}, "audio"),
    ({"audio": base64.b64encode(b"\0" * (vm.MAX_CHUNK_AUDIO + 1)).decode()}, "audio"),
    ({"message_id": "a b c d e f g h"}, "message_id"), ({"extra": 1}, "unknown field"),
    ({"last": False}, "meta"), ({"meta": None}, "meta"),
    ({"meta": {**META.to_json(), "ended": "boom"}}, "meta.ended"),
    ({"meta": {**META.to_json(), "ended_at": 1.0}}, "before"),
    ({"meta": {**META.to_json(), "number": "+0123"}}, "meta.number"),
    ({"meta": {**META.to_json(), "duration_s": float("nan")}}, "duration_s"),
    ({"meta": {**META.to_json(), "caller": "x\n"}}, "meta.caller"),
])
def test_bad_chunks_say_which_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(vm.VoicemailError, match=message) as exc:
        vm.parse_chunk({**_good(), **change})
    assert "\n" not in str(exc.value)


def test_a_missing_field_is_named() -> None:
    body = _good()
    del body["audio"]
    with pytest.raises(vm.VoicemailError, match="audio is missing"):
        vm.parse_chunk(body)


metas = st.builds(
    vm.Meta, call_id=st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{7,63}\Z"),
    number=st.from_regex(r"\A\+[1-9][0-9]{1,14}\Z"),
    caller=st.none() | st.from_regex(r"\A[0-9*#+]{1,32}\Z"),
    caller_name=st.none() | st.text(st.characters(codec="utf-8", categories=["L", "N", "P", "Zs"]),
                                    min_size=1, max_size=64).filter(str.isprintable),
    started_at=st.floats(0, 1e10), ended_at=st.just(1e10 + 1.0), duration_s=st.floats(0, 300),
    ended=st.sampled_from(vm.END_REASONS))


@settings(max_examples=200)
@given(st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{7,63}\Z"), st.binary(max_size=vm.MAX_CHUNK_AUDIO * 3),
       metas)
def test_property_split_parse_assemble_round_trip(message_id: str, audio: bytes, meta: vm.Meta) -> None:
    chunks = vm.split(message_id, audio, meta)
    back = [vm.parse_chunk(json.loads(json.dumps(c.to_json()))) for c in chunks]
    assert back == chunks
    assert vm.assemble(back) == audio


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=20,
)
near_chunks = st.fixed_dictionaries({}, optional={
    "message_id": st.text(max_size=70) | st.just("vm-00000000000000a1"),
    "seq": st.integers(-2, 100) | json_values, "last": st.booleans() | json_values,
    "audio": st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode()) | json_values,
    "meta": st.just(META.to_json()) | st.dictionaries(st.sampled_from(list(META.to_json())), json_values)
    | json_values,
    "other": json_values,
})


@settings(max_examples=400)
@given(json_values | near_chunks)
def test_property_arbitrary_payloads_raise_only_voicemail_error(obj: object) -> None:
    try:
        chunk = vm.parse_chunk(obj)
    except vm.VoicemailError as exc:
        assert "\n" not in str(exc)
    else:
        assert vm.parse_chunk(chunk.to_json()) == chunk


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_property_arbitrary_deliver_bytes_fed_byte_by_byte(data: bytes) -> None:
    """Whatever bytes arrive, the framing, the envelope and the chunk parser raise only our errors."""
    from roamline.wire.errors import WireError

    try:
        frames = _fed_byte_by_byte(data)
        for f in frames:
            env = from_frame(f)
            if isinstance(env.message, Deliver):
                vm.parse_chunk(env.message.payload)
    except WireError:
        pass
