"""`roamline demo` end to end: the whole story on the demo rig as JSON events, and how it fails."""

from __future__ import annotations

import json
import socket
import subprocess
import tomllib
from collections import Counter
from pathlib import Path

import pytest
import tomli_w

from roamline.hil.demo_events import TYPES
from roamline.hil.rig import RIGS
from roamline.hil.rigrun import ROAMLINE


def demo(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ROAMLINE, "demo", *args], capture_output=True, text=True, timeout=timeout,
                          check=False)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_demo_json_tells_the_whole_story_and_exits_0() -> None:
    """Real box processes, registry, exchange, cards and handsets (3 min on a loaded 2-core machine)."""
    done = demo("--json", timeout=840)
    assert done.returncode == 0, done.stderr[-4000:]
    events = [json.loads(line) for line in done.stdout.splitlines()]  # stdout: JSON lines only
    assert events, done.stderr[-2000:]
    types = Counter(e["type"] for e in events)
    assert set(types) == TYPES, types
    for e in events:
        assert {"type", "box", "number", "at"} <= e.keys() and e["at"].endswith("Z"), e
    # the card is registered at box A, then B; carol at B too
    assert [(e["box"], e["holder"]) for e in events if e["type"] == "card.registered"] == [
        ("box-a", "alice"), ("box-b", "alice"), ("box-b", "carol")]
    # alice's number rang A, then B, with her cadence; carol's at B with another one
    rings = [(e["box"], e["number"], e.get("cadence")) for e in events if e["type"] == "call.ringing"]
    assert ("box-a", "+15550100001", "us-dr1") in rings and ("box-b", "+15550100001", "us-dr1") in rings
    assert ("box-b", "+15550200002", "us-dr2") in rings
    assert all(e["caller_id"]["name"] == "BOB JONES" for e in events
               if e["type"] == "call.ringing" and e["box"] is not None)
    # voice both ways, by content, on every call (incoming at A and B, out via A's line, 911)
    media = [e for e in events if e["type"] == "media.verified"]
    assert len(media) >= 9 and all(e["found"] for e in media)
    assert {e["number"] for e in media} == {"+15550100001", "+15550400004", "911"}
    # one record per call: its route and where
    cdrs = [(e["route"], e["box"], e["line"]) for e in events if e["type"] == "cdr.recorded"]
    assert cdrs == [("incoming", "box-a", "+15550100001"),
                    ("own-line", "box-a", "+15550100001"),  # alice's speed-dial #3 at box-a
                    ("incoming", "box-b", "+15550100001"),
                    ("host-line", "box-b", "+15550100001"), ("host-line", "box-b", "+15550100001"),  # #3 at B
                    ("incoming", "box-a", "+15550100001"),  # the filtered call: box-a's line said no
                    ("incoming", "box-b", "+15550200002"),
                    ("emergency", "box-b", None)]
    assert len({e["call_id"] for e in events if e["type"] == "cdr.recorded"}) == 8
    assert [e["outcome"] for e in events if e["type"] == "cdr.recorded"][5] == "filtered"
    # the holder's speed-dial at box A and at box B
    dials = [(e["box"], e["via"]) for e in events
             if e["type"] == "call.answered" and e["number"] == "+15550400004"]
    assert dials == [("box-a", "+15550100001"), ("box-b", "+15550100001"), ("box-b", "+15550100001")]
    (blocked,) = [e for e in events if e["type"] == "call.filtered"]
    assert blocked["box"] == "box-a" and blocked["how"] == "block" and blocked["caller"] == "+15550300003"
    assert 0.5 < blocked["heard_correlation"] <= 1.0
    (sos,) = [e for e in events if e["type"] == "emergency.dialled"]
    assert sos["box"] == "box-b" and sos["number"] == "911"
    assert sos["exchange"] == {"caller": "15550200002", "callee": "911"}  # out box-b's own line
    # the registry's emergency record (what the contacts are told) carries box-b's address, not box-a's
    assert sos["address"] == "400 Harbour Road, room B2, Shelbyville IL 62565, US"
    # **1 at box A reached the nearest pizza place (the directory and alice's preference, set by the demo)
    assert any(e["type"] == "call.ringing" and e.get("code") == "**1" and e["number"] == "+15550400004"
               and e.get("placed_at") == "box-a" for e in events)
    assert "All 43 steps held" in done.stderr


def test_a_rig_without_the_storys_parts_is_refused_in_one_line(tmp_path: Path) -> None:
    rig = tomllib.loads((RIGS / "demo.toml").read_text(encoding="utf-8"))
    del rig["boxes"][1]["phone"]  # a valid rig, but box-b has no handset to ring
    path = tmp_path / "no-phone.toml"
    path.write_text(tomli_w.dumps(rig), encoding="utf-8")
    done = demo("--rig", str(path), timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "roamline demo: rig 'demo': the rig needs two boxes with a line and a phone"]


@pytest.mark.timeout(180)
def test_a_step_that_does_not_hold_ends_the_demo_with_exit_1_and_one_line_why(tmp_path: Path) -> None:
    """The registry cannot listen (its port is taken): step 1 fails, the demo says so and exits 1."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        rig = tomllib.loads((RIGS / "demo.toml").read_text(encoding="utf-8"))
        rig["cloud"]["port"] = taken.getsockname()[1]
        path = tmp_path / "taken.toml"
        path.write_text(tomli_w.dumps(rig), encoding="utf-8")
        done = demo("--rig", str(path), "--json", timeout=150)
    assert done.returncode == 1, done.stderr[-2000:]
    assert done.stdout == ""  # no event: nothing held
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("roamline demo: step 1 failed: Start the registry"), last
