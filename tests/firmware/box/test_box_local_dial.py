"""Location speed-dials through real box processes on the demo rig: the registry on SQLite with its
local-services directory, real QUIC, the exchange simulator's modems, virtual cards behind pcscd, an
attached handset. alice sets `**1` → pizza (`roamline cloud local-dials`); from box-a (recorded at
Springfield, IL) `**1` reaches the nearest pizza place whose radius covers it — DAVE'S PIZZA — and the call
goes out like any other; 311 with no city service listed near the box is refused with a spoken reason."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from roamline.hil.rig import load_rig
from roamline.hil.rigrun import RigRunner, last_json, roamline

DAVE = "+15550400004"  # DAVE'S PIZZA on the exchange, answers after two rings
SERVICES = f"""category,name,number,lat,lon,radius_m
pizza,DAVE'S PIZZA,{DAVE},39.8010,-89.6480,10000
pizza,Far Away Pizza,+15550499999,39.9500,-89.6440,60000
pizza,Shelbyville Pizza,+15550488888,39.4064,-88.7901,8000
311,Chicago City Services,+13125550311,41.8800,-87.6300,30000
"""


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RigRunner]:
    runner = RigRunner(load_rig("demo"), Path(tmp_path_factory.mktemp("localdial")))
    with runner:
        yield runner


def cloud(rig: RigRunner, *args: str) -> Any:
    return last_json(roamline("cloud", *args, "--data", str(rig.cloud_dir), "--json"))


def exchange_connected(rig: RigRunner, caller: str, callee: str, timeout: float = 25.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(c["caller"] == caller and c["callee"] == callee and c["state"] == "connected"
               for c in rig.exchange_status()["calls"]):
            return True
        time.sleep(0.1)
    return False


def test_star_star_1_reaches_the_nearest_pizza_and_311_without_a_service_is_refused(
        rig: RigRunner, tmp_path: Path) -> None:
    csv = tmp_path / "services.csv"
    csv.write_text(SERVICES, encoding="utf-8")
    assert cloud(rig, "services", "import", str(csv))["imported"] == 4
    shown = cloud(rig, "local-dials", "alice", "--set", "1=pizza")
    assert shown["local_dials"] == [{"code": "1", "category": "pizza"}]
    mark = rig.box_log_mark("box-a")
    rig.insert("alice-card", "box-a")
    rig.wait_box_event("box-a", "registered", mark)
    phone = rig.handset("box-a")
    try:
        phone.lift()
        phone.key_dtmf("**1")  # one digit after **: decided when the interdigit time runs out
        line = rig.wait_box_event("box-a", r"local-dial\.resolved", mark, timeout=20)
        assert f"number={DAVE}" in line and "category=pizza" in line, line
        placed = rig.wait_box_event("box-a", r"call\.placing .*route=own-line", mark, timeout=15)
        assert f"number={DAVE}" in placed
        assert exchange_connected(rig, "15550100001", "15550400004"), rig.exchange_status()["calls"]
    finally:
        phone.hang_up()
        rig.pstn(DAVE).hang_up()
    calls = cloud(rig, "calls", "--number", DAVE)
    assert calls and calls[-1]["called"] == DAVE, calls
    mark = rig.box_log_mark("box-a")
    try:
        phone.lift()
        phone.key_dtmf("311")
        line = rig.wait_box_event("box-a", r"local-dial\.unresolved", mark, timeout=20)
        assert "outcome=no-service" in line, line
        said = rig.boxes["box-a"].dir / "data" / "prompts" / "local-no-service.wav"
        assert said.is_file() and said.stat().st_size > 8000  # the reason, made at start with espeak-ng
    finally:
        phone.hang_up()
        gone = rig.box_log_mark("box-a")
        rig.remove("alice-card")
    rig.wait_box_event("box-a", "holder-wiped", gone, timeout=15)
