"""Insert-to-routable latency on the real path: virtual PIV card → vpcd → private pcscd → `roamline box
run` → QUIC → `roamline cloud serve` → SQLite commit → Registered.

The box itself measures it (event ``registered``, field ``insert_to_routable_ms``: from the PC/SC
reader event's timestamp to the Registered reply, which the registry sends after committing the route).
The bench reads those events from the box's own event log (its SQLite store, read-only) rather than
from its stdout, so any number of cycles works. Each cycle waits for the box to see the removal
(``deregistered``) before the card goes in again: pcscd polls vpcd every 400 ms.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from roamline.hil.errors import PeerError
from roamline.hil.rig import AccountSpec, BoxSpec, CardSpec, RigSpec
from roamline.hil.rigrun import RigRunner

NUMBER = "+15550100042"


class BoxEvents:
    """Reads a running box's event log (its store's ``events`` table) without disturbing it."""

    def __init__(self, db: Path) -> None:
        self._db = db
        self.last_id = 0

    def _rows(self) -> list[tuple[int, str, str]]:
        conn = sqlite3.connect(f"file:{self._db}?mode=ro", uri=True, timeout=5.0)
        try:
            rows = conn.execute("SELECT id, kind, fields FROM events WHERE id > ? ORDER BY id",
                                (self.last_id,)).fetchall()
        finally:
            conn.close()
        return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    def skip_all(self) -> None:
        for rid, _, _ in self._rows():
            self.last_id = rid

    def wait(self, kinds: set[str], timeout: float = 10.0) -> tuple[str, dict[str, Any]]:
        """The next event of one of ``kinds`` (events of other kinds are passed over)."""
        deadline = time.monotonic() + timeout
        while True:
            for rid, kind, fields in self._rows():
                self.last_id = rid
                if kind in kinds:
                    return kind, dict(json.loads(fields))
            if time.monotonic() > deadline:
                raise PeerError(f"box logged none of {sorted(kinds)} in {timeout:.0f}s")
            time.sleep(0.005)


def _box_db(box_dir: Path) -> Path:
    found = sorted(box_dir.rglob("box.db"))
    if not found:
        raise PeerError(f"{box_dir}: the box has no store (box.db) yet")
    return found[0]


def measure_insert_to_routable(workdir: Path, inserts: int, log_level: str = "info") -> dict[str, Any]:
    spec = RigSpec(
        name="bench-insert",
        accounts=(AccountSpec(name="holder", numbers=(NUMBER,)),),
        cards=(CardSpec(name="card", account="holder"),),
        boxes=(BoxSpec(name="box"),),
    )
    samples: list[float] = []
    with RigRunner(spec, workdir, log_level=log_level) as rig:
        box = rig.boxes["box"]
        rig.wait_box_event("box", "link-up", after=0, timeout=20.0)
        events = BoxEvents(_box_db(box.dir))
        events.skip_all()
        for i in range(inserts):
            rig.insert("card", "box")
            kind, fields = events.wait({"registered", "registration-refused", "registration-deferred",
                                        "card-unusable"})
            if kind != "registered":
                raise PeerError(f"insert {i + 1}: box logged {kind}: {fields.get('reason', '')}")
            samples.append(float(fields["insert_to_routable_ms"]))
            if i == 0:
                routed = rig.where(NUMBER)
                if not any(e.get("box_id") == box.box_id for e in routed):
                    raise PeerError(f"after the first registration the registry routes {NUMBER} to {routed}")
            rig.remove("card")
            events.wait({"deregistered"})
            print(f"bench register: insert {i + 1}/{inserts}: {samples[-1]:.1f} ms", file=sys.stderr)
    return {"samples": samples}
