"""The supervised reader loop against the real pcscd with virtual cards in vpcd readers."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from typing import TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from roamline.firmware.card.errors import CardRemovedError, PinBlocked, SecurityNotSatisfied, WrongPin
from roamline.firmware.card.pcsc import PyscardBackend
from roamline.firmware.card.reader import (
    CardEvent,
    CardInserted,
    CardRemoved,
    PcscAvailable,
    PcscUnavailable,
    ReaderAdded,
    ReaderLoop,
    ReaderLost,
)
from roamline.hil.card.issue import TestCa
from roamline.hil.card.piv import VirtualCard
from roamline.hil.pytest_pcsc import CardRig

pytestmark = pytest.mark.pcscd


@pytest.fixture
def loop(card_rig: CardRig) -> Iterator[ReaderLoop]:
    lp = ReaderLoop(PyscardBackend(), poll_s=1.0)
    lp.start()
    yield lp
    lp.stop()


E = TypeVar("E", bound=CardEvent)


def next_of(loop: ReaderLoop, kind: type[E], timeout: float = 5.0) -> E:
    """Events up to the first of ``kind`` (others are skipped)."""
    while True:
        ev = loop.get_event(timeout)
        assert ev is not None, f"no {kind.__name__} within {timeout} s"
        if isinstance(ev, kind):
            return ev


def drain(loop: ReaderLoop) -> list[CardEvent]:
    out = []
    while (ev := loop.get_event(0.05)) is not None:
        out.append(ev)
    return out


def test_startup_reports_pcsc_and_readers(loop: ReaderLoop, card_rig: CardRig) -> None:
    assert isinstance(next_of(loop, PcscAvailable), PcscAvailable)
    added = {next_of(loop, ReaderAdded).reader for _ in card_rig.readers}
    assert added == set(card_rig.readers)


def test_insert_sign_remove(loop: ReaderLoop, card_rig: CardRig, card_ca: TestCa) -> None:
    cf = card_ca.make_cardfile()
    card_rig.insert(cf, 1, wait=False)
    ev = next_of(loop, CardInserted)
    assert isinstance(ev, CardInserted) and ev.reader == card_rig.readers[1] and ev.atr
    with loop.session(ev.reader) as piv:
        piv.select()
        chuid = piv.read_chuid()
        assert chuid.card_id == cf.card_id
        cert = x509.load_der_x509_certificate(piv.read_certificate(0x9E))
        digest = hashlib.sha256(b"nonce").digest()
        sig = piv.sign(0x9E, digest)
        pub = cert.public_key()
        assert isinstance(pub, ec.EllipticCurvePublicKey)
        pub.verify(sig, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        with pytest.raises(SecurityNotSatisfied):
            piv.sign(0x9A, digest)
        piv.verify_pin("123456")
        piv.sign(0x9A, digest)
    card_rig.remove(1, wait=False)
    gone = next_of(loop, CardRemoved)
    assert isinstance(gone, CardRemoved) and gone.reader == card_rig.readers[1]
    assert gone.at >= ev.at
    assert loop.cards == {}
    with pytest.raises(CardRemovedError), loop.session(card_rig.readers[1]):
        pass


def test_yank_during_general_authenticate(loop: ReaderLoop, card_rig: CardRig, card_ca: TestCa) -> None:
    sock = card_rig.insert(card_ca.make_cardfile(), 0)
    ev = next_of(loop, CardInserted)
    sock.yank_when(lambda cmd: cmd.ins == 0x87)
    with pytest.raises(CardRemovedError), loop.session(ev.reader) as piv:
        piv.select()
        piv.sign(0x9E, bytes(32))
    assert isinstance(next_of(loop, CardRemoved), CardRemoved)


def test_session_invalidated_by_removal(loop: ReaderLoop, card_rig: CardRig, card_ca: TestCa) -> None:
    card_rig.insert(card_ca.make_cardfile(), 0)
    ev = next_of(loop, CardInserted)
    with loop.session(ev.reader) as piv:
        piv.select()
        card_rig.remove(0, wait=False)
        next_of(loop, CardRemoved)
        with pytest.raises(CardRemovedError):
            piv.read_chuid()


def test_pcscd_killed_and_restarted(loop: ReaderLoop, card_rig: CardRig, card_ca: TestCa) -> None:
    card_rig.insert(card_ca.make_cardfile(), 0)
    first = next_of(loop, CardInserted)
    drain(loop)
    card_rig.daemon.kill()
    events = [next_of(loop, PcscUnavailable)]
    card_rig.daemon.start()
    again = next_of(loop, CardInserted)
    assert isinstance(again, CardInserted) and again.reader == first.reader
    assert events
    with loop.session(again.reader) as piv:
        piv.select()
        assert piv.read_chuid().card_id


def test_pcscd_stop_loses_readers_then_readds(loop: ReaderLoop, card_rig: CardRig) -> None:
    next_of(loop, PcscAvailable)
    drain(loop)
    card_rig.daemon.stop()
    lost: set[str] = set()
    while len(lost) < len(card_rig.readers):
        ev = next_of(loop, ReaderLost)
        lost.add(ev.reader)
    next_of(loop, PcscUnavailable)
    card_rig.daemon.start()
    next_of(loop, PcscAvailable)
    added = {next_of(loop, ReaderAdded).reader for _ in card_rig.readers}
    assert added == set(card_rig.readers)


def test_two_readers_independent(loop: ReaderLoop, card_rig: CardRig, card_ca: TestCa) -> None:
    a, b = card_ca.make_cardfile(), card_ca.make_cardfile()
    card_rig.insert(VirtualCard(a), 0, wait=False)
    card_rig.insert(VirtualCard(b), 1, wait=False)
    seen: dict[str, CardInserted] = {}
    while len(seen) < 2:
        ev = next_of(loop, CardInserted)
        seen[ev.reader] = ev
    ids: dict[str, str] = {}
    for reader in seen:
        with loop.session(reader) as piv:
            piv.select()
            ids[reader] = piv.read_chuid().card_id
    assert ids == {card_rig.readers[0]: a.card_id, card_rig.readers[1]: b.card_id}
    card_rig.remove(0, wait=False)
    gone = next_of(loop, CardRemoved)
    assert gone.reader == card_rig.readers[0]
    assert set(loop.cards) == {card_rig.readers[1]}


def test_pin_through_pcscd_and_sink(card_rig: CardRig, card_ca: TestCa) -> None:
    events: list[CardEvent] = []
    inserted = threading.Event()

    def sink(ev: CardEvent) -> None:
        events.append(ev)
        if isinstance(ev, CardInserted):
            inserted.set()

    with ReaderLoop(PyscardBackend(), sink) as loop:
        card_rig.insert(card_ca.make_cardfile(pin="87654321", pin_retries=2), 0, wait=False)
        assert inserted.wait(5)
        with loop.session(card_rig.readers[0]) as piv:
            piv.select()
            assert piv.pin_status() == 2
            with pytest.raises(WrongPin) as info:
                piv.verify_pin("11111111")
            assert info.value.tries_left == 1
            piv.verify_pin("87654321")
            assert piv.pin_status() is None
        # A new session on the same insertion keeps the card's PIN state (we leave the card, not reset it).
        with loop.session(card_rig.readers[0]) as piv:
            piv.select()
            for _ in range(2):
                with pytest.raises(WrongPin):
                    piv.verify_pin("11111111")
            with pytest.raises(PinBlocked):
                piv.verify_pin("87654321")
    assert loop.get_event(0) is None  # with a sink, nothing is queued
    assert [type(e) for e in events[:1]] == [PcscAvailable]


def test_removal_in_one_reader_spares_the_other(
    loop: ReaderLoop, card_rig: CardRig, card_ca: TestCa
) -> None:
    card_rig.insert(card_ca.make_cardfile(), 0, wait=False)
    card_rig.insert(card_ca.make_cardfile(), 1, wait=False)
    while len(loop.cards) < 2:
        next_of(loop, CardInserted)
    with loop.session(card_rig.readers[1]) as piv:
        piv.select()
        card_rig.remove(0, wait=False)
        assert next_of(loop, CardRemoved).reader == card_rig.readers[0]
        assert piv.read_chuid().card_id


def test_only_configured_readers(card_rig: CardRig, card_ca: TestCa) -> None:
    mine = card_rig.readers[1]
    with ReaderLoop(PyscardBackend(), readers=[mine]) as loop:
        assert next_of(loop, ReaderAdded).reader == mine
        card_rig.insert(card_ca.make_cardfile(), 0)  # waits until pcscd reports it
        card_rig.insert(card_ca.make_cardfile(), 1, wait=False)
        ev = next_of(loop, CardInserted)
        assert ev.reader == mine and set(loop.cards) == {mine} and loop.readers == [mine]
