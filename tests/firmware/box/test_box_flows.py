"""Every call flow of issue 9 (items 4 and 5) through real box processes, on one module-scoped rig
(``hil/rigs/flows.toml``): the registry (router and relay) on SQLite, real QUIC, the exchange simulator's
modems on ptys, virtual cards behind pcscd, handsets attached through their control sockets.

Each test checks what the user hears or sees — voice by content (a tone each way), call-progress tones
by their frequencies, spoken prompts by their speech envelope against the prompt the box made — and the
call's single record in the registry's store.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from roamline.cloud.records import CallRecord
from roamline.hil.content import check_speech, check_tone
from roamline.hil.handset_control import HandsetClient
from roamline.hil.rig import load_rig
from roamline.hil.rigrun import PstnPhone, RigRunner
from roamline.hil.voicecheck import HandsetEnd, Probe, PstnEnd, verify

ALICE = "+15550100001"  # alice's follow-me number: box-a's host line
CAROL = "+15550200002"  # carol's: box-b's host line
BOB = "+15550300003"  # a PSTN phone ("BOB JONES")
DAVE = "+15550400004"  # a PSTN phone that answers after two rings ("DAVE'S PIZZA")
CHICAGO = "+13125550199"  # a number in an area no host line serves
REORDER = (480.0, 620.0)  # US reorder and busy: the same pair, 0.25 s vs 0.5 s cadence
CALL_WAITING = (440.0,)
RINGBACK = (440.0, 480.0)

# the rig (registry, exchange, three box processes, three cards: ~20 `roamline` commands) takes 30-90 s
# to build on a loaded machine, and pytest-timeout charges it to the first test
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RigRunner]:
    runner = RigRunner(
        load_rig("flows"),
        Path(tmp_path_factory.mktemp("flows")),
        # short reconnects, so the boxes are back soon after the registry returns (the offline test)
        box_link={"keepalive_s": 1.0, "request_timeout_s": 2.0, "backoff_initial_s": 0.2,
                  "backoff_max_s": 1.0},
    )
    with runner:
        yield runner


# --- helpers -------------------------------------------------------------------------------------------


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out ({timeout:.0f} s) waiting for {what}")
        time.sleep(0.1)


def records(rig: RigRunner) -> dict[str, CallRecord]:
    """Every call record in the registry's store, by call id (read as `roamline cloud calls` does)."""
    from roamline.cloud.cmd.common import open_store

    store = open_store(rig.cloud_dir)
    try:
        return {r.call_id: r for r in store.calls(limit=100_000)}
    finally:
        store.close()


def closed(rig: RigRunner, call_id: str, timeout: float = 20.0) -> CallRecord:
    def done() -> CallRecord | None:
        rec = records(rig).get(call_id)
        return rec if rec is not None and rec.state == "closed" else None

    try:
        return wait_until(done, timeout, f"call {call_id}'s record closed")  # type: ignore[no-any-return]
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {records(rig).get(call_id)}; {tails(rig)}") from None


def new_records(rig: RigRunner, before: set[str]) -> set[str]:
    return set(records(rig)) - before


def call_id_from(line: str) -> str:
    m = re.search(r"call_id=(\S+)", line)
    assert m is not None, line
    return m.group(1)


def tails(rig: RigRunner, n: int = 25) -> str:
    procs = {b: x.process for b, x in rig.boxes.items()}
    if rig.registry is not None:
        procs["registry"] = rig.registry
    return "\n".join(f"--- {name}\n" + "\n".join(p.output()[-n:]) for name, p in procs.items())


def card_in(rig: RigRunner, card: str, box: str) -> None:
    mark = rig.box_log_mark(box)
    rig.insert(card, box)
    rig.wait_box_event(box, "registered", mark)


def card_id(rig: RigRunner, card: str) -> str:
    return rig.cards[card].card_id


def exchange_call(rig: RigRunner, caller: str, callee: str, state: str) -> bool:
    return any(c["caller"] == caller[1:] and c["callee"] == callee[1:] and c["state"] == state
               for c in rig.exchange_status()["calls"])


def in_a_call(rig: RigRunner, number: str) -> bool:
    return any(number[1:] in (c["caller"], c["callee"]) and c["state"] != "ended"
               for c in rig.exchange_status()["calls"])


def exchange_idle(rig: RigRunner) -> bool:
    return all(c["state"] == "ended" for c in rig.exchange_status()["calls"])


def ear(phone: HandsetClient, tmp: Path, during: Callable[[], Any] | None = None, seconds: float = 1.5
        ) -> np.ndarray:
    """What the earpiece played: while ``during`` runs (and ``seconds`` after it), or for ``seconds``."""
    from roamline.firmware.audio.device_file import read_wav

    wav = tmp / f"ear-{time.monotonic_ns()}.wav"
    if during is None:
        phone.record(wav, seconds)
    else:
        phone.record_start()
        try:
            during()
            time.sleep(seconds)
        finally:
            phone.record_stop(wav)
    return np.asarray(read_wav(wav, 8000))


def heard_tone(samples: np.ndarray, freqs: tuple[float, ...], min_s: float = 0.2) -> bool:
    return bool(check_tone(samples, 8000, freqs, min_s=min_s).ok)


def prompt(rig: RigRunner, box: str, name: str) -> np.ndarray:
    """The spoken prompt the box made at start (espeak-ng, in its data directory)."""
    from roamline.firmware.audio.device_file import read_wav

    return np.asarray(read_wav(rig.boxes[box].dir / "data" / "prompts" / f"{name}.wav", 8000))


def both_ways(a: Any, b: Any) -> None:
    """A 1004 Hz tone a → b and a 697 Hz tone b → a, each heard for ≥ 0.5 s without a break."""
    up = verify(a, b, Probe("tone", hz=1004.0, seconds=1.5), settle_s=1.0)
    assert up.ok, up
    down = verify(b, a, Probe("tone", hz=697.0, seconds=1.5), settle_s=1.0)
    assert down.ok, down


def ring_in(rig: RigRunner, caller: PstnPhone, number: str, box: str) -> tuple[str, int]:
    """``caller`` dials ``number``; ``box``'s handset rings (with caller ID). The call id and log mark."""
    phone = rig.handset(box)
    before = len(phone.rings())
    mark = rig.box_log_mark(box)
    caller.call(number)
    phone.wait_ring(after=before, bursts=1, caller_id=True, timeout=25)
    return call_id_from(rig.wait_box_event(box, "call.ringing", mark, timeout=10)), mark


def put_down(phone: HandsetClient) -> None:
    """Hang up and leave the handset down longer than a hook flash (≤ 0.8 s) or a dial pulse: lifted
    sooner, the box would take the on-hook for a flash or the digit 1."""
    phone.hang_up()
    time.sleep(1.2)


def pstn_down(phone: PstnPhone) -> None:
    from roamline.hil.errors import UsageError

    try:
        phone.hang_up()
    except UsageError:  # on hook already
        pass


@pytest.fixture
def clean(rig: RigRunner) -> Iterator[None]:
    """Each test leaves the rig as it found it: phones on hook, PSTN phones idle, no cards in."""
    yield
    for b in rig.boxes:
        rig.handset(b, ready_timeout=20).hang_up()
    for number in (BOB, DAVE):
        pstn_down(rig.pstn(number))
    for card in list(rig.card_sockets):
        rig.remove(card)
    wait_until(lambda: exchange_idle(rig), 25, "the exchange to have no calls")
    rig.wait_boxes_settled()


# --- 1. box to box by follow-me number -------------------------------------------------------------------


def test_a_box_to_box_call_by_follow_me_number_rings_the_callee_with_voice_both_ways(
        rig: RigRunner, clean: None, tmp_path: Path) -> None:
    """carol at box-b dials alice's follow-me number: the cloud rings alice's card at box-a (no PSTN
    line is used), caller ID shows carol's number; alice answers, voice flows handset ⇄ relay ⇄ handset;
    carol hangs up and alice hears reorder. One record: route box, billed to carol, answered at box-a."""
    card_in(rig, "alice-card", "box-a")
    card_in(rig, "carol-card", "box-b")
    pa, pb = rig.handset("box-a"), rig.handset("box-b")
    before = set(records(rig))
    rings = len(pa.rings())
    ma, mb = rig.box_log_mark("box-a"), rig.box_log_mark("box-b")
    pb.lift()
    ring: dict[str, Any] = {}

    def carol_dials() -> None:  # ringback is 2 s on, 4 s off: listen from the first key on
        pb.key_dtmf("15550100001")
        ring.update(pa.wait_ring(after=rings, bursts=1, caller_id=True, timeout=20))

    assert heard_tone(ear(pb, tmp_path, during=carol_dials, seconds=0.2), RINGBACK), "carol hears no ringback"
    call_id = call_id_from(rig.wait_box_event("box-b", r"call\.placing", mb, timeout=5))
    assert str((ring["caller_id"] or {}).get("number", "")).endswith("5550200002"), ring
    told = rig.wait_box_event("box-a", "call.ringing", ma, timeout=5)
    assert call_id_from(told) == call_id and "holder=alice" in told, told
    pa.lift()
    rig.wait_box_event("box-a", "call.answered", ma, timeout=10)
    rig.wait_box_event("box-b", "call.answered", mb, timeout=10)
    assert not in_a_call(rig, ALICE) and not in_a_call(rig, CAROL)  # no PSTN line carries it
    time.sleep(0.3)
    both_ways(HandsetEnd(pb, "carol", workdir=tmp_path), HandsetEnd(pa, "alice", workdir=tmp_path))
    pb.hang_up()
    rig.wait_box_event("box-a", "call.ended", ma, timeout=15)
    assert heard_tone(ear(pa, tmp_path), REORDER), "alice does not hear the call end"
    pa.hang_up()
    rec = closed(rig, call_id)
    assert new_records(rig, before) == {call_id}
    assert (rec.route, rec.outcome, rec.account_id, rec.called) == ("box", "answered", "carol", ALICE), rec
    assert rec.terminal_box == rig.boxes["box-a"].box_id, rec


# --- 2. call waiting (and busy) ---------------------------------------------------------------------------


def test_call_waiting_hook_flash_switches_and_back_a_third_caller_gets_busy(
        rig: RigRunner, clean: None, tmp_path: Path) -> None:
    """alice at box-a talks to bob (PSTN). carol (box-b) calls alice: alice hears the call-waiting tone,
    carol ringback. dan (box-c) calls alice too: alice already has a call waiting, so dan hears busy.
    Flash: alice talks to carol (bob held); flash again: back to bob. alice hangs up: both calls end
    (bob's at the exchange, carol hears reorder), each with one record."""
    card_in(rig, "alice-card", "box-a")
    card_in(rig, "carol-card", "box-b")
    card_in(rig, "dan-card", "box-c")
    pa, pb, pc = rig.handset("box-a"), rig.handset("box-b"), rig.handset("box-c")
    bob = rig.pstn(BOB)
    before = set(records(rig))
    bob_call, ma = ring_in(rig, bob, ALICE, "box-a")
    pa.lift()
    rig.wait_box_event("box-a", "call.answered", ma, timeout=10)
    wait_until(lambda: exchange_call(rig, BOB, ALICE, "connected"), 10, "box-a's modem to answer bob")
    time.sleep(0.3)
    both_ways(HandsetEnd(pa, "alice", workdir=tmp_path), PstnEnd(bob, workdir=tmp_path))

    # carol calls alice: the call-waiting tone over bob's call
    mb = rig.box_log_mark("box-b")

    carol_ear: list[np.ndarray] = []

    def carol_calls() -> None:  # carol listens from her first key on (ringback: 2 s on, 4 s off)
        pb.lift()
        carol_ear.append(ear(pb, tmp_path, during=lambda: (
            pb.key_dtmf("15550100001"), rig.wait_box_event("box-a", r"call\.waiting", ma, timeout=15)),
            seconds=1.0))

    heard = ear(pa, tmp_path, during=carol_calls, seconds=0.0)
    assert heard_tone(heard, CALL_WAITING), "alice hears no call-waiting tone"
    assert heard_tone(carol_ear[0], RINGBACK), "carol hears no ringback"
    carol_call = call_id_from(rig.wait_box_event("box-b", r"call\.placing", mb, timeout=5))

    # dan calls alice: busy
    mc = rig.box_log_mark("box-c")
    pc.lift()
    pc.key_dtmf("15550100001")
    dan_call = call_id_from(rig.wait_box_event("box-c", r"call\.placing", mc, timeout=10))
    ended = rig.wait_box_event("box-c", r"call\.ended", mc, timeout=15)
    assert "reason=busy" in ended, ended
    dan_ear = ear(pc, tmp_path, seconds=2.0)
    assert heard_tone(dan_ear, REORDER, min_s=0.3), "dan hears no busy tone"
    pc.hang_up()

    # flash: to carol (bob held), flash: back to bob
    pa.flash()
    rig.wait_box_event("box-a", r"call\.switched", ma, timeout=10)
    rig.wait_box_event("box-b", r"call\.answered", mb, timeout=10)
    time.sleep(0.3)
    both_ways(HandsetEnd(pa, "alice", workdir=tmp_path), HandsetEnd(pb, "carol", workdir=tmp_path))
    assert exchange_call(rig, BOB, ALICE, "connected"), "bob's call did not stay up while held"
    m2 = rig.box_log_mark("box-a")
    pa.flash()
    switched = rig.wait_box_event("box-a", r"call\.switched", m2, timeout=10)
    assert f"to={bob_call}" in switched, switched
    time.sleep(0.3)
    both_ways(HandsetEnd(pa, "alice", workdir=tmp_path), PstnEnd(bob, workdir=tmp_path))

    # alice hangs up: both end
    pa.hang_up()
    wait_until(lambda: not in_a_call(rig, BOB), 20, "bob's call to end at the exchange")
    rig.wait_box_event("box-b", r"call\.ended", mb, timeout=15)
    assert heard_tone(ear(pb, tmp_path), REORDER), "carol does not hear the call end"
    pb.hang_up()
    for cid in (bob_call, carol_call, dan_call):
        closed(rig, cid)
    recs = records(rig)
    assert new_records(rig, before) == {bob_call, carol_call, dan_call}
    assert (recs[bob_call].route, recs[bob_call].outcome, recs[bob_call].account_id) == (
        "incoming", "answered", "alice"), recs[bob_call]
    assert (recs[carol_call].route, recs[carol_call].outcome, recs[carol_call].account_id) == (
        "box", "answered", "carol"), recs[carol_call]
    assert recs[dan_call].outcome != "answered" and recs[dan_call].end_reason == "busy", recs[dan_call]


# --- 3. two cards in one box ------------------------------------------------------------------------------


def test_two_holders_in_one_box_ring_differently_and_the_chosen_key_decides_whose_call(
        rig: RigRunner, clean: None, tmp_path: Path) -> None:
    """alice and carol both at box-b: bob calls alice's number, then carol's; box-b rings each with its
    holder's own cadence. carol lifts: the box asks "who is calling?" (the prompt, heard by content);
    key 3 (the second card: carol) and Dave's number: the call is carol's (her own line, her record);
    key 2 (alice) and the same number: alice's (out box-a's line, her right)."""
    from roamline.board.core.cadence import CADENCES

    card_in(rig, "alice-card", "box-b")  # first reader: key 2
    card_in(rig, "carol-card", "box-b")  # second reader: key 3
    pb, bob = rig.handset("box-b"), rig.pstn(BOB)
    cadences: dict[str, str] = {}
    for number, holder in ((ALICE, "alice"), (CAROL, "carol")):
        before = len(pb.rings())
        mark = rig.box_log_mark("box-b")
        bob.call(number)
        told = rig.wait_box_event("box-b", "call.ringing", mark, timeout=25)
        assert f"holder={holder}" in told, told
        cadence = told.split("cadence=")[1].split()[0]
        bursts = max(2, len(CADENCES.get(cadence, (0, 0))) // 2 + 1)  # one whole cycle
        ring = pb.wait_ring(after=before, bursts=bursts, caller_id=True, timeout=30)
        assert ring["cadence"] == cadence, (ring, told)  # what the bell rang, measured
        cadences[holder] = cadence
        # answered (a lift ends the ring episode; the phone joins bursts < 6.5 s apart into one), then over
        pb.lift()
        rig.wait_box_event("box-b", "call.answered", mark, timeout=10)
        wait_until(lambda n=number: exchange_call(rig, BOB, n, "connected"), 15, f"{number} to answer bob")
        put_down(pb)
        wait_until(lambda: exchange_idle(rig), 20, "bob's call to end")
        pstn_down(bob)  # bob's phone is still off-hook after the far end went
    assert cadences["alice"] != cadences["carol"], cadences

    before_recs = set(records(rig))
    choose = prompt(rig, "box-b", "choose-holder-2")
    for key, holder, card, route in (("3", "carol", "carol-card", "own-line"),
                                     ("2", "alice", "alice-card", "host-line")):
        mark = rig.box_log_mark("box-b")
        heard = ear(pb, tmp_path, during=pb.lift, seconds=len(choose) / 8000 + 0.5)
        said = check_speech(choose, heard, 8000, label="who is calling?")
        assert said.ok, said
        pb.key_dtmf(key)
        chosen = rig.wait_box_event("box-b", "holder-chosen", mark, timeout=10)
        assert f"holder={holder}" in chosen, chosen
        pb.key_dtmf("15550400004")
        call_id = call_id_from(rig.wait_box_event("box-b", r"call\.placing", mark, timeout=10))
        if holder == "carol":  # voice on the one that is answered
            wait_until(lambda: exchange_call(rig, CAROL, DAVE, "connected"), 25, "dave to answer carol")
            assert "bridged=True" in rig.wait_box_event("box-b", "line.dialled", mark, timeout=20)
            time.sleep(0.3)
            both_ways(HandsetEnd(pb, holder, workdir=tmp_path), PstnEnd(rig.pstn(DAVE), workdir=tmp_path))
        else:  # out box-a's line (alice's right): the exchange sees box-a's line dial dave
            wait_until(lambda: exchange_call(rig, ALICE, DAVE, "ringing")
                       or exchange_call(rig, ALICE, DAVE, "connected"), 25, "box-a's line to dial dave")
        put_down(pb)
        rec = closed(rig, call_id)
        assert (rec.account_id, rec.card_id, rec.route) == (holder, card_id(rig, card), route), rec
        wait_until(lambda: exchange_idle(rig), 25, "dave's call to end")
        pstn_down(rig.pstn(DAVE))
    assert len(new_records(rig, before_recs)) == 2


# --- 4. a card removed during a call ----------------------------------------------------------------------


def test_a_card_removed_during_a_call_the_call_goes_on_the_next_call_is_missed(
        rig: RigRunner, clean: None, tmp_path: Path) -> None:
    """bob ⇄ alice at box-a, answered with voice; alice's card comes out: the call goes on (voice both
    ways again), one record when bob hangs up. bob calls again: alice's card is nowhere, box-a's
    handset stays silent, and the call is recorded as missed."""
    card_in(rig, "alice-card", "box-a")
    pa, bob = rig.handset("box-a"), rig.pstn(BOB)
    before = set(records(rig))
    first, ma = ring_in(rig, bob, ALICE, "box-a")
    pa.lift()
    rig.wait_box_event("box-a", "call.answered", ma, timeout=10)
    wait_until(lambda: exchange_call(rig, BOB, ALICE, "connected"), 10, "box-a's modem to answer bob")
    time.sleep(0.3)
    alice, bobs = HandsetEnd(pa, "alice", workdir=tmp_path), PstnEnd(bob, workdir=tmp_path)
    both_ways(alice, bobs)
    m = rig.box_log_mark("box-a")
    rig.remove("alice-card")
    rig.wait_box_event("box-a", "holder-wiped", m, timeout=10)
    assert rig.where(ALICE) == []
    both_ways(alice, bobs)  # the call goes on
    assert exchange_call(rig, BOB, ALICE, "connected")
    bob.hang_up()
    rig.wait_box_event("box-a", "call.ended", ma, timeout=15)
    pa.hang_up()
    rec = closed(rig, first)
    assert (rec.outcome, rec.account_id) == ("answered", "alice"), rec
    wait_until(lambda: exchange_idle(rig), 20, "bob's call to end")

    rings = len(pa.rings())
    m = rig.box_log_mark("box-a")
    bob.call(ALICE)
    second = call_id_from(rig.wait_box_event("box-a", r"line\.ring", m, timeout=20))
    rec2 = closed(rig, second)  # routed to nobody: closed at once
    time.sleep(2.0)
    assert len(pa.rings()) == rings, "box-a's handset rang for a holder who is not there"
    proc = rig.boxes["box-a"].process
    told = proc.output()[len(proc.output()) - (proc.mark() - m):]
    assert not [x for x in told if " call.ringing" in x], told
    bob.hang_up()
    assert rec2.outcome == "missed" and rec2.route == "incoming" and rec2.called == ALICE, rec2
    assert new_records(rig, before) == {first, second}


# --- 6. no route -----------------------------------------------------------------------------------------


def test_a_call_with_no_route_is_refused_with_reorder_and_a_spoken_reason(
        rig: RigRunner, clean: None, tmp_path: Path) -> None:
    """dan at box-c (no line of its own) has no right on any line. A number in an area no host line
    serves: "there is no line for this number" and reorder. Dave's number (in the area of two host
    lines, neither dan's): "you may not call this number from here" and reorder. Each is one
    `refused` record."""
    card_in(rig, "dan-card", "box-c")
    pc = rig.handset("box-c")
    before = set(records(rig))
    made = []
    for digits, reason in (("13125550199", "no-route"), ("15550400004", "no-rights")):
        said = prompt(rig, "box-c", f"refused-{reason}")
        mark = rig.box_log_mark("box-c")
        pc.lift()

        def dial(digits: str = digits, mark: int = mark) -> None:
            pc.key_dtmf(digits)
            rig.wait_box_event("box-c", r"call\.ended", mark, timeout=10)

        heard = ear(pc, tmp_path, during=dial, seconds=len(said) / 8000 + 1.5)
        ended = rig.wait_box_event("box-c", r"call\.ended", mark, timeout=1)
        assert f"reason={reason}" in ended, ended
        spoken = check_speech(said, heard, 8000, label=f"refused-{reason}")
        assert spoken.ok, spoken
        assert heard_tone(heard, REORDER), f"no reorder after the {reason} prompt"
        put_down(pc)
        call_id = call_id_from(ended)
        rec = closed(rig, call_id)
        assert (rec.outcome, rec.end_reason, rec.account_id) == ("refused", reason, "dan"), rec
        made.append(call_id)
    assert new_records(rig, before) == set(made)


# --- 5. the cloud unreachable (last: it restarts the registry) ---------------------------------------------


def test_out_the_own_line_while_the_cloud_is_down_the_record_arrives_once_when_it_is_back(
        rig: RigRunner, clean: None, tmp_path: Path) -> None:
    """The registry is stopped. alice at box-a dials Dave: the box sends the call out its own line at once
    (the cloud is unreachable), Dave answers, voice both ways. The record waits in box-a's outbox; when the
    registry is back it is delivered, exactly one record, alice's card on it."""
    from roamline.firmware.store import BoxStore
    from roamline.wire.calls import CALL_RECORD_KIND

    card_in(rig, "alice-card", "box-a")
    pa = rig.handset("box-a")
    before = set(records(rig))
    m = rig.box_log_mark("box-a")
    rig.stop_registry()
    try:
        rig.wait_box_event("box-a", "link-down", m, timeout=15)
        pa.lift()
        pa.key_dtmf("15550400004")
        placing = rig.wait_box_event("box-a", r"call\.placing .*route=own-line", m, timeout=10)
        assert "cloud unreachable" in placing, placing
        call_id = call_id_from(placing)
        wait_until(lambda: exchange_call(rig, ALICE, DAVE, "connected"), 25, "dave to answer")
        assert "bridged=True" in rig.wait_box_event("box-a", "line.dialled", m, timeout=20)
        time.sleep(0.3)
        both_ways(HandsetEnd(pa, "alice", workdir=tmp_path), PstnEnd(rig.pstn(DAVE), workdir=tmp_path))
        pa.hang_up()
        wait_until(lambda: not in_a_call(rig, DAVE), 20, "dave's call to end")

        def queued() -> list[Any]:
            store = BoxStore(rig.boxes["box-a"].dir / "data" / "box.db")
            store.open()
            try:
                return [i for i in store.pending() if i.kind == CALL_RECORD_KIND
                        and i.payload.get("call_id") == call_id]
            finally:
                store.close()

        item = wait_until(queued, 10, "the record in box-a's outbox")[0]
        assert item.payload["route"] == "own-line" and item.payload["outcome"] == "answered", item
        assert call_id not in records(rig)
    finally:
        m = rig.box_log_mark("box-a")
        rig.serve_registry(rig.port)
    rig.wait_box_event("box-a", "link-up", m, timeout=30)
    wait_until(lambda: not queued(), 30, "box-a's outbox to drain")
    rec = closed(rig, call_id)
    assert new_records(rig, before) == {call_id}
    assert (rec.route, rec.outcome, rec.called, rec.card_id) == (
        "own-line", "answered", DAVE, card_id(rig, "alice-card")), rec
    assert rec.terminal_box == rig.boxes["box-a"].box_id, rec
    assert len(rec.reports or {}) == 1, rec.reports
