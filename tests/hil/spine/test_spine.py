"""The card-roaming spine end to end: real `roamline` processes, real pcscd + virtual PIV cards, real QUIC.

One rig for the module (starting one costs seconds); each test leaves the cards out when it ends.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from roamline.hil.proc import ProcessFailed
from roamline.hil.rig import load_rig
from roamline.hil.rigrun import RigRunner

NUMBER = "+15550100001"
CARD = "alice-card"


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RigRunner]:
    runner = RigRunner(load_rig("demo"), Path(tmp_path_factory.mktemp("spine")))
    with runner:
        yield runner


@pytest.fixture(autouse=True)
def cards_out(rig: RigRunner) -> Iterator[None]:
    yield
    for box in rig.boxes:
        mark = rig.box_log_mark(box)
        had = rig.card_place.get(CARD) == box
        rig.remove(CARD)
        if had:
            rig.wait_box_event(box, "card-removed", mark)
    for sock in rig.copies:
        sock.remove()
    rig.copies.clear()
    rig.wait_boxes_settled()
    assert rig.wait_where(NUMBER, lambda es: es == []) == []


def where_boxes(rig: RigRunner) -> list[str]:
    return [e["box_id"] for e in rig.where(NUMBER)]


def insert_and_wait(rig: RigRunner, box: str) -> None:
    mark = rig.box_log_mark(box)
    rig.insert(CARD, box)
    rig.wait_box_event(box, "registered", mark)


def test_card_roams_and_leaves(rig: RigRunner) -> None:
    a, b = rig.boxes["box-a"], rig.boxes["box-b"]
    assert where_boxes(rig) == []
    insert_and_wait(rig, "box-a")
    entries = rig.where(NUMBER)
    assert [e["box_id"] for e in entries] == [a.box_id]
    assert entries[0]["location"]["civic"] == rig.spec.boxes[0].civic  # the installer's recorded address
    assert rig.box_holders("box-a") == [rig.cards[CARD].card_id]
    insert_and_wait(rig, "box-b")
    moved = rig.wait_where(NUMBER, lambda es: [e["box_id"] for e in es] == [b.box_id])
    assert [e["box_id"] for e in moved] == [b.box_id]
    mark = rig.box_log_mark("box-b")
    rig.remove(CARD)
    rig.wait_box_event("box-b", "deregistered", mark)
    assert where_boxes(rig) == []  # deregistered at once, not after a lease
    assert rig.box_holders("box-b") == []


def test_registry_restart_keeps_registrations_and_boxes_reregister(rig: RigRunner) -> None:
    a = rig.boxes["box-a"]
    insert_and_wait(rig, "box-a")
    mark = rig.box_log_mark("box-a")
    rig.stop_registry()
    assert where_boxes(rig) == [a.box_id]  # the registration is in the registry's store
    rig.serve_registry(rig.port)
    rig.wait_box_event("box-a", "link-up", mark, timeout=30)
    rig.wait_box_event("box-a", "registered", mark, timeout=15)  # no user action
    assert where_boxes(rig) == [a.box_id]


def test_pcscd_killed_and_restarted_while_card_present(rig: RigRunner) -> None:
    a = rig.boxes["box-a"]
    insert_and_wait(rig, "box-a")
    mark = rig.box_log_mark("box-a")
    a.pcscd.kill()
    time.sleep(0.5)
    a.pcscd.start()
    # The card stays in the reader; the reader loop recovers and sees it again.
    rig.wait_box_event("box-a", "registered", mark, timeout=20)
    assert a.process.running()
    entries = rig.wait_where(NUMBER, lambda es: [e["box_id"] for e in es] == [a.box_id])
    assert [e["box_id"] for e in entries] == [a.box_id]
    assert rig.box_holders("box-a") == [rig.cards[CARD].card_id]


def test_two_boxes_racing_with_the_same_card(rig: RigRunner) -> None:
    a, b = rig.boxes["box-a"], rig.boxes["box-b"]
    marks = {n: rig.box_log_mark(n) for n in ("box-a", "box-b")}
    rig.insert_copy(CARD, "box-a")
    rig.insert_copy(CARD, "box-b")
    rig.wait_box_event("box-a", "registered", marks["box-a"])
    rig.wait_box_event("box-b", "registered", marks["box-b"])
    entries = rig.wait_where(NUMBER, lambda es: len(es) == 1)
    assert len(entries) == 1  # one box per card
    names = {a.box_id: "box-a", b.box_id: "box-b"}
    winner = names[entries[0]["box_id"]]
    loser = "box-b" if winner == "box-a" else "box-a"
    rig.wait_box_event(loser, "superseded", marks[loser])
    assert rig.box_holders(loser) == []
    # The winner keeps the card, and the registry keeps routing to it once the loser has let go.
    assert rig.box_holders(winner) == [rig.cards[CARD].card_id]
    assert [e["box_id"] for e in rig.where(NUMBER)] == [rig.boxes[winner].box_id]
    with pytest.raises(ProcessFailed):  # it was superseded for good, not by a re-registration race
        rig.wait_box_event(winner, "superseded", marks[winner], timeout=1.0)


def test_card_yanked_during_authentication(rig: RigRunner) -> None:
    mark = rig.box_log_mark("box-a")
    # Pulled out at GENERAL AUTHENTICATE: mid-signature.
    sock = rig.insert_copy(CARD, "box-a", yank_when=lambda cmd: cmd.ins == 0x87)
    rig.wait_box_event("box-a", "card-(unusable|removed)", mark)
    rig.wait_box_event("box-a", "card-removed", mark)
    assert sock.yanked.is_set()
    # Nothing was registered with the half-signed card: no `registered` event since the insertion.
    logged = rig.boxes["box-a"].process.output()[mark:]
    assert not [line for line in logged if re.search(r" registered( |$)", line)], logged
    assert where_boxes(rig) == []
    assert rig.boxes["box-a"].process.running()
    insert_and_wait(rig, "box-a")  # and the box still works
    assert where_boxes(rig) == [rig.boxes["box-a"].box_id]
