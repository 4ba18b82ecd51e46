"""The cloud's emergency route (issue 11 item 6, DESIGN §6.4) through real processes: a `roamline box run`
with no line of its own (its handset attached), `roamline cloud serve`, and SIPp (Debian sip-tester) as
the answering point, chosen from the answering-point directory (`roamline cloud psap import`).

SIPp's scenario (psap_uas.xml) checks the Request-URI, the Geolocation header, the multipart body and
the call-back number, rings, answers and echoes RTP; this test then checks the PIDF-LO it received with
the RFC schemas, voice content (a tone from the handset comes back through the answering point), the
registry's call and emergency records, and SIPp's verdict (exit status 0: every check passed).
"""

from __future__ import annotations

import shutil
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from roamline.hil.rig import load_rig
from roamline.hil.rigrun import RigRunner, last_json, roamline
from roamline.hil.sipp import SippPeer
from roamline.wire import pidf, sip

pytestmark = pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp (sip-tester) is not installed")

SCENARIO = Path(__file__).with_name("psap_uas.xml")

RIG = """
name = "sos"
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
    tmp = Path(tmp_path_factory.mktemp("sos"))
    (tmp / "rig.toml").write_text(RIG, encoding="utf-8")
    runner = RigRunner(load_rig(tmp / "rig.toml"), tmp / "run")
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


def import_psaps(rig: RigRunner, tmp: Path, rows: list[str]) -> dict[str, Any]:
    f = tmp / "psaps.csv"
    f.write_text("name,uri,lat,lon,radius_m,country,A1,A3\n" + "\n".join(rows) + "\n", encoding="utf-8")
    out = roamline("cloud", "psap", "import", str(f), "--data", str(rig.cloud_dir), "--json")
    return dict(last_json(out))


def emergencies(rig: RigRunner) -> list[dict[str, Any]]:
    return list(last_json(roamline("cloud", "emergencies", "--data", str(rig.cloud_dir), "--json")))


def scenario(tmp: Path, *, call_back: bool) -> Path:
    """The UAS scenario; without a call-back number SIPp is not asked to find P-Asserted-Identity."""
    text = SCENARIO.read_text(encoding="utf-8")
    if not call_back:
        text = "\n".join(ln for ln in text.splitlines() if "P-Asserted-Identity" not in ln)
    out = tmp / "psap_uas.xml"
    out.write_text(text, encoding="utf-8")
    return out


def the_invite(peer: SippPeer) -> sip.SipMessage:
    invites = [m for m in peer.messages() if m.startswith("INVITE ")]
    assert len(invites) == 1, peer.output()[-2000:]
    raw = invites[0].replace("\r\n", "\n").replace("\n", "\r\n")
    head, _, body = raw.partition("\r\n\r\n")
    n = int(_header(head, "Content-Length"))
    content = (body.encode() + b"\r\n")[:n]  # SIPp's log drops the body's last line end
    return sip.parse((head + "\r\n\r\n").encode() + content)


def _header(head: str, name: str) -> str:
    for ln in head.split("\r\n"):
        k, _, v = ln.partition(":")
        if k.strip().lower() == name.lower():
            return v.strip()
    raise AssertionError(f"no {name} in {head[:200]}")


def tty_round_trip(hs: Any, tmp: Path, text: str) -> str:
    """A TTY (TDD, Baudot 45.45 baud, minimodem) message said into the handset, decoded from what came
    back out of the earpiece (through the answering point's echo)."""
    import subprocess

    from roamline.firmware.audio.device_file import read_wav, write_wav

    sent = tmp / "tty-sent.wav"
    subprocess.run(["minimodem", "--tx", "tdd", "-f", str(sent)], input=text.encode() + b"\n", check=True,
                   capture_output=True, timeout=30)
    samples = read_wav(sent, 8000)
    hs.listen_start()
    hs.say(samples)
    time.sleep(len(samples) / 8000 + 1.5)
    heard = tmp / "tty-heard.wav"
    write_wav(heard, hs.listen_stop(), 8000)
    out = subprocess.run(["minimodem", "--rx", "tdd", "-q", "-f", str(heard)], capture_output=True,
                         timeout=30)
    return out.stdout.decode("ascii", "replace")


def hang_up(rig: RigRunner, phone: Any) -> None:
    mark = rig.box_log_mark("box-c")
    phone.hang_up()
    rig.wait_box_event("box-c", "on-hook", mark, timeout=10)


def test_911_with_no_line_goes_by_sip_to_the_answering_point_for_the_address_and_voice_comes_back(
    rig: RigRunner, tmp_path: Path
) -> None:
    """dana's card is in (her number is the call-back number). The directory has a GPS circle elsewhere,
    the box's state and city (SIPp), and a default that answers nothing: the city's row is chosen."""
    from roamline.hil.voicecheck import HandsetEnd, Probe, verify

    mark = rig.box_log_mark("box-c")
    rig.insert("dana-card", "box-c")
    rig.wait_box_event("box-c", "registered", mark)
    with SippPeer(scenario(tmp_path, call_back=True), tmp_path / "sipp") as peer:
        imported = import_psaps(rig, tmp_path, [
            "far-away,sip:psap@127.0.0.1:9,47.6,-122.3,20000,,,",
            f"shelbyville,{peer.uri},,,,US,IL,Shelbyville",
            "illinois,sip:psap@127.0.0.1:9,,,,US,IL,",
            "fallback,sip:psap@127.0.0.1:9,,,,,,",
        ])
        assert imported["imported"] == 4 and imported["circle"] == 1 and imported["default"] == 1
        phone = rig.handset("box-c")
        count = len(emergencies(rig))
        try:
            phone.lift()
            keyed = time.time()
            phone.key_dtmf("911")  # 80 ms tones, 80 ms gaps: the last tone starts 320 ms in
            last_tone_start = keyed + 0.320
            rig.wait_box_event("box-c", r"emergency\.dialled", mark, timeout=10)
            rig.wait_box_event("box-c", r"call\.answered", mark, timeout=15)
            time.sleep(0.5)
            hs = HandsetEnd(phone, workdir=tmp_path)
            # a steady tone said into the handset, echoed by the answering point, heard back in full (the
            # emergency flow has no echo canceller, which would take the echoed tone for echo)
            echoed = verify(hs, hs, Probe("tone", hz=1004.0, seconds=1.0), settle_s=1.0)
            assert echoed.ok, echoed
            if shutil.which("minimodem"):
                heard_text = tty_round_trip(hs, tmp_path, "HELP 911 FIRE")
                print(f"tty_heard {heard_text!r}")
                assert "HELP 911 FIRE" in heard_text  # Baudot (TTY/TDD 45.45 bd) tones intact both ways
        finally:
            hang_up(rig, phone)
            rig.remove("dana-card")
        assert peer.wait(timeout=20) == 0, peer.output()[-3000:]  # SIPp's own checks passed
        invite = the_invite(peer)
        (invite_at,) = [at for at, m in peer.timed_messages() if m.startswith("INVITE ")]
    # a figure, not a pass mark (no timing assertions): the last DTMF tone's start → SIPp logs the INVITE
    print(f"last_digit_to_invite_ms {1000 * (invite_at - last_tone_start):.0f}")
    assert invite.uri == "urn:service:sos" and sip.uri_of(invite.need("To")) == "urn:service:sos"
    assert invite.need("P-Asserted-Identity") == "<tel:+15550400004>"
    assert "+15550400004@" in invite.need("From")
    geo = sip.uri_of(invite.need("Geolocation"))
    parts = sip.parse_multipart(invite.body, invite.need("Content-Type"))
    assert [p.content_type for p in parts] == ["application/sdp", "application/pidf+xml"]
    sdp = sip.parse_sdp(parts[0].body)
    assert sdp.payload_types == (0,)  # PCMU only
    (loc,) = [p for p in parts if p.content_id is not None]
    assert geo == f"cid:{loc.content_id}"
    pidf.validate(loc.body)  # RFC 3863/4119/5139 schemas + the RFC 5491 subset
    assert b"<ca:RD>Mill Lane</ca:RD>" in loc.body and b"<ca:A3>Shelbyville</ca:A3>" in loc.body
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        recs = emergencies(rig)
        if len(recs) > count:
            break
        time.sleep(0.2)
    rec = recs[-1]
    assert rec["route"] == "sip" and rec["box_name"] == "box-c" and rec["holder"] == "dana"
    assert rec["location"]["civic"]["RD"] == "Mill Lane"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        (call,) = [c for c in rig.calls() if c["route"] == "sos"]
        if call["state"] == "closed":
            break
        time.sleep(0.2)
    assert call["called"] == "911" and call["line"] == peer.uri and call["caller"] == "+15550400004"
    assert call["outcome"] == "answered" and call["answered_at"] is not None, call


def test_911_with_no_card_and_no_call_back_number_passes_a_busy_answering_point_to_the_next(
    rig: RigRunner, tmp_path: Path
) -> None:
    """No card is in and the box has no line, so there is no call-back number: From names the box and
    there is no P-Asserted-Identity. The city's answering point is busy (486): the state's takes it."""
    from roamline.hil.voicecheck import HandsetEnd, Probe, verify

    busy_scenario = SCENARIO.with_name("psap_busy.xml")
    with SippPeer(busy_scenario, tmp_path / "busy") as busy, \
            SippPeer(scenario(tmp_path, call_back=False), tmp_path / "sipp") as peer:
        import_psaps(rig, tmp_path, [
            f"shelbyville,{busy.uri},,,,US,IL,Shelbyville",
            f"illinois,{peer.uri},,,,US,IL,",
        ])
        phone = rig.handset("box-c")
        mark = rig.box_log_mark("box-c")
        count = len(emergencies(rig))
        try:
            phone.lift()
            phone.key_dtmf("911")
            rig.wait_box_event("box-c", r"call\.answered", mark, timeout=20)
            time.sleep(0.5)
            hs = HandsetEnd(phone, workdir=tmp_path)
            echoed = verify(hs, hs, Probe("speech", digits="29"), settle_s=1.5)
            assert echoed.ok, echoed
        finally:
            hang_up(rig, phone)
        assert busy.wait(timeout=20) == 0, busy.output()[-2000:]
        assert peer.wait(timeout=20) == 0, peer.output()[-3000:]
        invite = the_invite(peer)
    assert invite.get("P-Asserted-Identity") is None
    box_id = sip.uri_of(invite.need("From")).removeprefix("sip:").partition("@")[0]
    assert box_id == rig.boxes["box-c"].box_id
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        recs = emergencies(rig)
        if len(recs) > count:
            break
        time.sleep(0.2)
    rec = recs[-1]
    assert rec["route"] == "sip" and rec["holder"] is None
