"""The answering point's call-back to a box with no line (issue 11 item 6, DESIGN §6.4) through real
processes: `roamline box run` (no line; handset attached), `roamline cloud serve`, and SIPp (Debian
sip-tester) first as the answering point of the box's 911 call, then as the answering point calling back
the number that INVITE presented (a UAC scenario, psap_callback.xml).

Within the hour the call-back rings the box's handset with no card in; lifting answers it; voice is
checked by content (a tone from the handset echoed by SIPp and heard back); the box's hang-up is a BYE
SIPp receives. An unknown number is refused 404; after a registry restart the window still holds (it is
in the store); once the emergency call is over an hour old the call-back is refused 480. A call-back
from an address the directory does not name for the answering point (SIPp bound to 127.0.0.2, the entry
allowing 127.0.0.1/32) is refused 403 before the box rings, and the emergency record names the answering
point that did call back.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w

from roamline.hil.proc import ProcessFailed
from roamline.hil.rig import load_rig
from roamline.hil.rigrun import RigRunner, last_json, roamline
from roamline.hil.sipp import SippPeer, free_udp_port

pytestmark = pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp (sip-tester) is not installed")

HERE = Path(__file__).parent
NUMBER = "+15550400004"

RIG = """
name = "sos-callback"
[cloud]
host = "127.0.0.1"
[[accounts]]
name = "dana"
numbers = ["+15550400004"]
[[cards]]
name = "dana-card"
account = "dana"
[[boxes]]
name = "box-c"
civic = { country = "US", A1 = "IL", A3 = "Shelbyville", HNO = "12", RD = "Mill Lane", PC = "62565" }
phone = { backend = "sim" }
"""


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RigRunner]:
    tmp = Path(tmp_path_factory.mktemp("sos-cb"))
    (tmp / "rig.toml").write_text(RIG, encoding="utf-8")
    runner = RigRunner(load_rig(tmp / "rig.toml"), tmp / "run",
                       registry_args=("--sos-port", str(free_udp_port())))  # the same port after a restart
    try:
        runner.workdir.mkdir(parents=True, exist_ok=True)
        runner.start_cloud()
        runner.enroll_boxes()
        box = runner.boxes["box-c"]
        cfg_path = box.dir / "box.toml"
        cfg = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
        cfg["link"] = {"request_timeout_s": 3.0, "backoff_initial_s": 0.2, "backoff_max_s": 1.0}
        cfg_path.write_text(tomli_w.dumps(cfg), encoding="utf-8")
        runner.start_boxes()
        yield runner
    finally:
        runner.stop()


def call_back(rig: RigRunner, tmp: Path, name: str, number: str, *, refused: bool = False,
              host: str = "127.0.0.1") -> SippPeer:
    scenario = HERE / ("psap_callback_refused.xml" if refused else "psap_callback.xml")
    assert rig.sos_sip is not None
    # not started here: `with` starts it
    return SippPeer(scenario, tmp / name, remote=rig.sos_sip, service=number, timeout_s=60, host=host)


def answer_hear_and_hang_up(rig: RigRunner, peer: SippPeer, tmp: Path, mark: int) -> None:
    from roamline.hil.voicecheck import HandsetEnd, Probe, verify

    phone = rig.handset("box-c")
    try:
        rig.wait_box_event("box-c", r"call\.ringing", mark, timeout=15)  # with no card in the box
        phone.lift()
        time.sleep(1.0)
        hs = HandsetEnd(phone, workdir=tmp)
        echoed = verify(hs, hs, Probe("tone", hz=1004.0, seconds=1.0), settle_s=1.0)
        assert echoed.ok, echoed  # the handset's tone went to SIPp and came back
    finally:
        m2 = rig.box_log_mark("box-c")
        phone.hang_up()
        rig.wait_box_event("box-c", "on-hook", m2, timeout=10)
    assert peer.wait(timeout=20) == 0, peer.output()[-3000:]  # SIPp: 180, 200 with PCMU, then our BYE


def test_the_answering_points_call_back_rings_the_box_with_no_card_within_the_hour_and_after_a_restart(
    rig: RigRunner, tmp_path: Path
) -> None:
    # the emergency call that opens the window: dana's card in, her number presented as the call-back
    mark = rig.box_log_mark("box-c")
    rig.insert("dana-card", "box-c")
    rig.wait_box_event("box-c", "registered", mark)
    with SippPeer(HERE / "psap_uas.xml", tmp_path / "psap") as psap:
        f = tmp_path / "psaps.csv"
        f.write_text("name,uri,lat,lon,radius_m,country,A1,A3,callback_from,tls_fingerprint,tls_ca\n"
                     f"any,{psap.uri},,,,,,,127.0.0.1/32,,\n", encoding="utf-8")
        roamline("cloud", "psap", "import", str(f), "--data", str(rig.cloud_dir), "--json")
        phone = rig.handset("box-c")
        try:
            phone.lift()
            phone.key_dtmf("911")
            rig.wait_box_event("box-c", r"call\.answered", mark, timeout=15)
            time.sleep(0.5)
        finally:
            m2 = rig.box_log_mark("box-c")
            phone.hang_up()
            rig.wait_box_event("box-c", "on-hook", m2, timeout=10)
        assert psap.wait(timeout=20) == 0, psap.output()[-3000:]
    rig.remove("dana-card")  # no card in the box from now on
    time.sleep(0.5)

    # the right number within the hour, from an address the directory does not name: 403, nothing rings
    mark = rig.box_log_mark("box-c")
    with call_back(rig, tmp_path, "stranger", NUMBER, refused=True, host="127.0.0.2") as peer:
        assert peer.wait(timeout=20) == 0, peer.output()[-3000:]
    assert any(m.startswith("SIP/2.0 403") for m in peer.messages())
    with pytest.raises(ProcessFailed):
        rig.wait_box_event("box-c", r"call\.(ringing|offer)", mark, timeout=2)
    assert rig.registry is not None
    assert any("sos-callback-forbidden" in line and "127.0.0.2" in line for line in rig.registry.output())

    mark = rig.box_log_mark("box-c")
    with call_back(rig, tmp_path, "cb1", NUMBER) as peer:
        answer_hear_and_hang_up(rig, peer, tmp_path, mark)
    msgs = peer.messages()
    assert any(m.startswith("SIP/2.0 180") for m in msgs) and any(m.startswith("BYE ") for m in msgs)

    with call_back(rig, tmp_path, "unknown", "+15550499999", refused=True) as peer:
        assert peer.wait(timeout=20) == 0, peer.output()[-3000:]
    assert any(m.startswith("SIP/2.0 404") for m in peer.messages())

    mark = rig.box_log_mark("box-c")
    rig.restart_registry()  # nothing of the window is kept in memory
    rig.wait_box_event("box-c", "link-up", mark, timeout=30)
    mark = rig.box_log_mark("box-c")
    with call_back(rig, tmp_path, "cb2", NUMBER) as peer:
        answer_hear_and_hang_up(rig, peer, tmp_path, mark)

    # an hour later (the emergency call's record moved back 61 minutes in the registry's own database)
    db = sqlite3.connect(str(rig.cloud_dir / "registry.db"), timeout=10)
    with db:
        db.execute("UPDATE calls SET created = created - 3660 WHERE route = 'sos'")
    db.close()
    with call_back(rig, tmp_path, "late", NUMBER, refused=True) as peer:
        assert peer.wait(timeout=20) == 0, peer.output()[-3000:]
    assert any(m.startswith("SIP/2.0 480") for m in peer.messages())
    calls = list(last_json(roamline("cloud", "calls", "--data", str(rig.cloud_dir), "--json")))
    backs = [c for c in calls if c["route"] == "sos-callback"]
    assert len(backs) == 2 and all(c["outcome"] == "answered" for c in backs), backs
    (record,) = last_json(roamline("cloud", "emergencies", "--data", str(rig.cloud_dir), "--json"))
    named = [(c["psap"], c["status"]) for c in record["callbacks"]]
    assert named == [("any", 180), ("any", 180), ("any", 480)], named  # not the stranger's, nor the 404's
