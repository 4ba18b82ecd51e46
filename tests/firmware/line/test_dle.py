from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from roamline.firmware.line import dle
from roamline.firmware.line import events as ev


def _run(decoder: dle.DleDecoder, chunks: list[bytes]) -> tuple[bytes, list[ev.LineEvent]]:
    voice = bytearray()
    others: list[ev.LineEvent] = []
    for c in chunks:
        for e in decoder.feed(c):
            if isinstance(e, ev.VoiceData):
                voice += e.data
            else:
                others.append(e)
    return bytes(voice), others


def _bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


ALL_BYTES = bytes(range(256)) * 3


def test_every_byte_value_round_trips_single_and_triple() -> None:
    for style in ("single", "triple"):
        stream = dle.shield(ALL_BYTES) + dle.end_of_stream(style)  # type: ignore[arg-type]
        for chunks in ([stream], _bytewise(stream)):
            voice, others = _run(dle.DleDecoder(style), chunks)  # type: ignore[arg-type]
            assert voice == ALL_BYTES
            assert others == [ev.EndOfStream()]


def test_events_split_across_reads() -> None:
    stream = b"ab\x10" + b"5" + b"\x10\x10" + b"\x10b\x10l\x10w\x10r\x10d\x10s\x10q\x10\x03"
    expected = [
        ev.DtmfDigit("5"), ev.Busy(), ev.LoopCurrentLoss(), ev.CallWaiting(), ev.Ringback(),
        ev.DialTone(), ev.Silence(), ev.Quiet(), ev.EndOfStream(),
    ]
    for split in range(len(stream)):
        voice, others = _run(dle.DleDecoder(), [stream[:split], stream[split:]])
        assert voice == b"ab\x10"
        assert others == expected


def test_triple_end_marker_is_not_data_but_plain_dle_etx_still_ends() -> None:
    voice, others = _run(dle.DleDecoder("triple"), [b"xy\x10\x10\x10\x03"])
    assert (voice, others) == (b"xy", [ev.EndOfStream()])
    voice, others = _run(dle.DleDecoder("triple"), [b"xy\x10\x03"])
    assert (voice, others) == (b"xy", [ev.EndOfStream()])
    # a data 0x10 right before a triple end marker survives
    voice, _ = _run(dle.DleDecoder("triple"), _bytewise(b"x\x10\x10\x10\x10\x10\x03"))
    assert voice == b"x\x10"


def test_single_style_reads_triple_marker_as_a_data_dle() -> None:
    voice, others = _run(dle.DleDecoder("single"), [b"xy\x10\x10\x10\x03"])
    assert (voice, others) == (b"xy\x10", [ev.EndOfStream()])


def test_bytes_after_end_are_noise_and_unknown_codes_kept() -> None:
    d = dle.DleDecoder()
    out = d.feed(b"\x10\x7f\x10\x03OK\r\n")
    assert out[0] == ev.OtherTone("0x7f")
    assert out[1] == ev.EndOfStream()
    assert isinstance(out[2], ev.Noise)


@given(
    st.lists(st.one_of(st.binary(max_size=40), st.sampled_from(list("0123456789*#ABCDbdrslqw"))),
             max_size=30),
    st.sampled_from(["single", "triple"]),
    st.data(),
)
def test_property_any_mix_any_split(parts: list[bytes | str], style: str, data: st.DataObject) -> None:
    stream = bytearray()
    want_voice = bytearray()
    want_events: list[str] = []
    for p in parts:
        if isinstance(p, bytes):
            stream += dle.shield(p)
            want_voice += p
        else:
            stream += bytes((0x10, ord(p)))
            want_events.append(p)
    stream += dle.end_of_stream(style)  # type: ignore[arg-type]
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    chunks = [bytes(stream[a:b]) for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    voice, others = _run(dle.DleDecoder(style), chunks)  # type: ignore[arg-type]
    assert voice == bytes(want_voice)
    assert others[-1] == ev.EndOfStream()
    assert len(others) == len(want_events) + 1
