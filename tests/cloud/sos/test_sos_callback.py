"""cloud.sos_callback: which box an answering point's call-back rings, from what the SIP route presented —
in real SQLite, so the window survives a registry restart."""

from __future__ import annotations

from pathlib import Path

from roamline.cloud.records import CallRecord
from roamline.cloud.sos_callback import decide
from roamline.cloud.sqlite_store import SqliteStore

T0 = 1.8e9
NUMBER = "+15550400004"


def placed(store: SqliteStore, call_id: str, *, route: str = "sos", caller: str = NUMBER, box: str = "box-c",
           at: float = T0) -> None:
    store.open_call(CallRecord(call_id=call_id, route=route, caller=caller, called="911", created=at,
                               terminal_box=box))


def test_the_window_rings_the_box_and_survives_a_registry_restart(tmp_path: Path) -> None:
    db = tmp_path / "registry.sqlite"
    store = SqliteStore(db)
    store.open()
    placed(store, "call-00000001")
    assert decide(store, NUMBER, T0 + 60).box_id == "box-c"
    store.close()
    again = SqliteStore(db)  # a restarted registry: nothing in memory
    again.open()
    v = decide(again, NUMBER, T0 + 3599)
    assert (v.box_id, v.status, v.since) == ("box-c", 0, T0)
    closed = decide(again, NUMBER, T0 + 3601)
    assert (closed.box_id, closed.status) == (None, 480)
    again.close()


def test_unknown_numbers_other_routes_and_unlinked_boxes_are_refused(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "r.sqlite")
    store.open()
    placed(store, "call-00000002", route="host-line", caller="+15550400009")  # not an emergency call
    assert decide(store, "+15550400009", T0 + 1).status == 404
    assert decide(store, "+15550499999", T0 + 1).status == 404
    placed(store, "call-00000003")
    assert decide(store, NUMBER, T0 + 1, connected={"box-a"}).status == 480
    assert decide(store, NUMBER, T0 + 1, connected={"box-c"}).box_id == "box-c"
    store.close()


def test_the_newest_emergency_call_decides_which_box_and_when(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "r.sqlite")
    store.open()
    placed(store, "call-00000004", box="box-c", at=T0)
    placed(store, "call-00000005", box="box-d", at=T0 + 3000)  # the holder's number, presented from box D
    v = decide(store, NUMBER, T0 + 3700)
    assert (v.box_id, v.since) == ("box-d", T0 + 3000)
    store.close()
