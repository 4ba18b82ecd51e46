"""The sans-I/O reader tracker: PC/SC states in, typed events out."""

from __future__ import annotations

from roamline.firmware.card.events import (
    CardInserted,
    CardRemoved,
    PcscAvailable,
    PcscUnavailable,
    ReaderAdded,
    ReaderLost,
    ReaderTracker,
)
from roamline.firmware.card.pcsc import STATE_CHANGED, STATE_EMPTY, STATE_MUTE, STATE_PRESENT, STATE_UNKNOWN

ATR = bytes.fromhex("3b8b80")
R = "Reader 00 00"


def up_with_reader() -> ReaderTracker:
    t = ReaderTracker()
    assert t.up(1.0) == [PcscAvailable(1.0)]
    assert t.up(1.5) == []
    assert t.readers_listed([R], 1.0) == [ReaderAdded(1.0, R)]
    return t


def test_insert_remove_with_timestamps() -> None:
    t = up_with_reader()
    assert t.status(R, STATE_EMPTY | STATE_CHANGED, b"", 2.0) == []
    assert t.status(R, (1 << 16) | STATE_PRESENT | STATE_CHANGED, ATR, 3.0) == [CardInserted(3.0, R, ATR)]
    assert t.cards == {R: ATR}
    assert t.watch_list() == [(R, (1 << 16) | STATE_PRESENT)]
    assert t.status(R, (1 << 16) | STATE_PRESENT, ATR, 3.5) == []
    assert t.status(R, (2 << 16) | STATE_EMPTY | STATE_CHANGED, b"", 4.0) == [CardRemoved(4.0, R)]
    assert t.cards == {}


def test_swap_between_polls_is_removal_then_insertion() -> None:
    t = up_with_reader()
    t.status(R, (1 << 16) | STATE_PRESENT, ATR, 2.0)
    other = bytes.fromhex("3b00")
    assert t.status(R, (3 << 16) | STATE_PRESENT | STATE_CHANGED, other, 3.0) == [
        CardRemoved(3.0, R),
        CardInserted(3.0, R, other),
    ]
    assert t.status(R, (5 << 16) | STATE_PRESENT | STATE_CHANGED, other, 4.0) == [
        CardRemoved(4.0, R),
        CardInserted(4.0, R, other),
    ]


def test_mute_card_is_not_a_card() -> None:
    t = up_with_reader()
    assert t.status(R, STATE_PRESENT | STATE_MUTE, ATR, 2.0) == []
    t.status(R, STATE_PRESENT, ATR, 3.0)
    assert t.status(R, STATE_PRESENT | STATE_MUTE, ATR, 4.0) == [CardRemoved(4.0, R)]


def test_reader_vanishes() -> None:
    t = up_with_reader()
    t.status(R, STATE_PRESENT, ATR, 2.0)
    assert t.readers_listed([], 3.0) == [CardRemoved(3.0, R), ReaderLost(3.0, R)]
    assert t.status(R, STATE_PRESENT, ATR, 4.0) == []  # unknown reader: ignored
    t.readers_listed([R], 5.0)
    assert t.status(R, STATE_UNKNOWN | STATE_CHANGED, b"", 6.0) == [ReaderLost(6.0, R)]


def test_pcsc_down_reports_everything_once() -> None:
    t = up_with_reader()
    t.readers_listed([R, "Other"], 1.0)
    t.status(R, STATE_PRESENT, ATR, 2.0)
    assert t.down(3.0, "gone") == [
        CardRemoved(3.0, R),
        ReaderLost(3.0, R),
        ReaderLost(3.0, "Other"),
        PcscUnavailable(3.0, "gone"),
    ]
    assert t.down(4.0, "still gone") == []
    assert t.up(5.0) == [PcscAvailable(5.0)]
