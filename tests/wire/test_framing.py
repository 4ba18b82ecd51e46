from __future__ import annotations

import json
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.wire.errors import ErrorCode, FrameError, FrameTooLarge, MalformedFrame, UsageError
from roamline.wire.framing import MAX_PAYLOAD, Frame, FrameDecoder, encode, parse_payload

json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
ids = st.none() | st.text(st.characters(codec="utf-8", categories=["L", "N", "P"]), min_size=1, max_size=64)
frames = st.builds(
    Frame,
    v=st.integers(0, 5),
    type=st.text(st.characters(codec="utf-8", categories=["L", "N", "Pd"]), min_size=1, max_size=30),
    body=st.dictionaries(st.text(max_size=10), json_values, max_size=6),
    id=ids,
    re=ids,
)


def _raw(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def _one_at_a_time(data: bytes) -> list[Frame]:
    dec = FrameDecoder()
    out: list[Frame] = []
    for i in range(len(data)):
        out += dec.feed(data[i : i + 1])
    assert dec.buffered == 0
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(frames, min_size=1, max_size=5))
def test_round_trip_whole_and_bytewise(fs: list[Frame]) -> None:
    data = b"".join(encode(f) for f in fs)
    assert FrameDecoder().feed(data) == fs
    assert _one_at_a_time(data) == fs


@settings(max_examples=150, deadline=None)
@given(st.lists(frames, min_size=1, max_size=4), st.lists(st.integers(0, 2000), max_size=8))
def test_round_trip_arbitrary_splits(fs: list[Frame], cuts: list[int]) -> None:
    data = b"".join(encode(f) for f in fs)
    points = sorted({min(c, len(data)) for c in cuts})
    dec = FrameDecoder()
    out: list[Frame] = []
    prev = 0
    for p in [*points, len(data)]:
        out += dec.feed(data[prev:p])
        prev = p
    assert out == fs


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.booleans())
def test_garbage_only_raises_typed_errors(data: bytes, bytewise: bool) -> None:
    dec = FrameDecoder()
    chunks = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    try:
        for c in chunks:
            dec.feed(c)
    except FrameError as exc:
        assert isinstance(exc.code, ErrorCode)
        assert dec.closed
    assert dec.buffered <= MAX_PAYLOAD


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_payload_in_valid_length(payload: bytes) -> None:
    try:
        parse_payload(payload)
    except MalformedFrame:
        pass


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (b"\xff\xfe", "UTF-8"),
        (b"{not json", "not JSON"),
        (b"", "not JSON"),
        (b"[1,2]", "not a JSON object"),
        (b'{"type":"ping"}', "'v'"),
        (b'{"v":true,"type":"ping"}', "'v'"),
        (b'{"v":-1,"type":"ping"}', "'v'"),
        (b'{"v":1}', "'type'"),
        (b'{"v":1,"type":""}', "'type'"),
        (b'{"v":1,"type":"ping","body":[]}', "'body'"),
        (b'{"v":1,"type":"ping","id":5}', "'id'"),
        (b'{"v":1,"type":"ping","re":""}', "'re'"),
        (b'{"v":1,"type":"ping","body":{"x":NaN}}', "not JSON"),
        (b'{"v":1,"type":"ping","extra":1}', "unknown envelope field"),
        (b"[" * 100000, "not JSON"),
    ],
)
def test_malformed_payloads(payload: bytes, fragment: str) -> None:
    for bytewise in (False, True):
        dec = FrameDecoder()
        data = _raw(payload) if len(payload) <= MAX_PAYLOAD else _raw(payload[:MAX_PAYLOAD])
        with pytest.raises(MalformedFrame, match=fragment) as info:
            if bytewise:
                for i in range(len(data)):
                    dec.feed(data[i : i + 1])
            else:
                dec.feed(data)
        assert info.value.code is ErrorCode.BAD_FRAME
        assert dec.closed
        with pytest.raises(MalformedFrame):
            dec.feed(_raw(b'{"v":1,"type":"ping","id":"1"}'))


def test_too_large_is_refused_at_the_header() -> None:
    dec = FrameDecoder()
    with pytest.raises(FrameTooLarge) as info:
        dec.feed(struct.pack(">I", MAX_PAYLOAD + 1))
    assert info.value.code is ErrorCode.TOO_LARGE
    assert dec.buffered == 0  # nothing of the oversized frame is held


def test_exactly_max_payload_is_accepted() -> None:
    head = b'{"v":1,"type":"t","body":{"x":"'
    tail = b'"}}'
    payload = head + b"a" * (MAX_PAYLOAD - len(head) - len(tail)) + tail
    assert len(payload) == MAX_PAYLOAD
    (frame,) = FrameDecoder().feed(_raw(payload))
    assert len(frame.body["x"]) == MAX_PAYLOAD - len(head) - len(tail)


def test_good_frames_before_an_error_are_kept() -> None:
    good = encode(Frame(v=1, type="ping", id="1"))
    frames, error = FrameDecoder().feed_until_error(good + good + _raw(b"nope"))
    assert len(frames) == 2 and isinstance(error, MalformedFrame)


def test_encode_refuses_oversize_and_non_json() -> None:
    with pytest.raises(UsageError):
        encode(Frame(v=1, type="t", body={"x": "a" * MAX_PAYLOAD}))
    bad: dict[str, Any] = {"x": object()}
    with pytest.raises(UsageError):
        encode(Frame(v=1, type="t", body=bad))
    with pytest.raises(UsageError):
        encode(Frame(v=1, type="t", body={"x": float("nan")}))


def test_encoding_is_compact_utf8_json() -> None:
    data = encode(Frame(v=1, type="ping", id="é1", body={}))
    (length,) = struct.unpack(">I", data[:4])
    assert length == len(data) - 4
    assert json.loads(data[4:].decode("utf-8")) == {"v": 1, "type": "ping", "id": "é1", "body": {}}
    assert b" " not in data[4:]
