"""The voicemail recorder: the end of a message decided from the line's audio (silence, the longest
message), trailing silence cut, µ-law out whatever the line streams, any feed sizes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.firmware.audio import g711
from roamline.firmware.audio.message_recorder import MessageRecorder

RATE = 8000


def tone(seconds: float, hz: float = 1000.0, dbfs: float = -12.0) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return (np.sin(2 * np.pi * hz * t) * 32767 * 10 ** (dbfs / 20)).astype(np.int16)


def quiet(seconds: float, dbfs: float = -60.0) -> np.ndarray:
    rng = np.random.default_rng(1)
    return (rng.standard_normal(int(RATE * seconds)) * 32767 * 10 ** (dbfs / 20)).astype(np.int16)


def test_silence_after_speech_ends_the_message_and_the_tail_is_cut() -> None:
    r = MessageRecorder(max_s=60, silence_s=3.0)
    said = g711.encode("ulaw", np.concatenate([quiet(0.5), tone(2.0)]))
    assert r.feed(said) is None
    assert r.feed(g711.encode("ulaw", quiet(2.9))) is None
    assert r.feed(g711.encode("ulaw", quiet(0.2))) == "silence"
    assert r.feed(g711.encode("ulaw", tone(1.0))) is None  # over: nothing more is taken
    audio = r.audio()
    assert len(audio) == int(RATE * (0.5 + 2.0 + 0.5))  # up to 0.5 s after the last voice
    assert audio[: len(said)] == said


def test_the_longest_message_ends_it_even_while_the_caller_talks() -> None:
    r = MessageRecorder(max_s=10, silence_s=3.0)
    data = g711.encode("ulaw", tone(12.0))
    ended = [r.feed(data[i:i + 1234]) for i in range(0, len(data), 1234)]
    assert [e for e in ended if e] == ["max-length"]
    assert len(r.audio()) == 10 * RATE


def test_no_voice_at_all_is_an_empty_message() -> None:
    r = MessageRecorder(max_s=60, silence_s=2.0)
    assert r.feed(g711.encode("ulaw", quiet(2.5))) == "silence"
    assert r.audio() == b""


def test_an_a_law_line_is_stored_as_mu_law() -> None:
    r = MessageRecorder(max_s=60, silence_s=5.0, law="alaw")
    x = tone(1.0)
    r.feed(g711.encode("alaw", x))
    back = g711.decode("ulaw", r.audio())
    assert len(back) == len(x) and np.corrcoef(back.astype(float), x.astype(float))[0, 1] > 0.99
    with pytest.raises(ValueError):
        MessageRecorder(max_s=1, silence_s=1, law="pcm")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 700), min_size=1, max_size=40))
def test_property_feed_sizes_do_not_change_the_recording(sizes: list[int]) -> None:
    data = g711.encode("ulaw", np.concatenate([tone(1.0), quiet(0.7), tone(0.3)]))
    whole = MessageRecorder(max_s=60, silence_s=5.0)
    whole.feed(data)
    parts = MessageRecorder(max_s=60, silence_s=5.0)
    i = 0
    for n in sizes * (len(data) // sum(sizes) + 1):
        parts.feed(data[i:i + n])
        i += n
        if i >= len(data):
            break
    assert parts.audio() == whole.audio()
