"""911 under faults, through real processes (issue 11's Done-when): `roamline box run` for box-a (its line
a cx93001 simulator on the exchange, its handset attached, a real gpsd reading a GPS receiver on a pty
that this test writes) and box-b (no line; alice's card goes in there), `roamline cloud serve` on SQLite
over real QUIC, the exchange simulator with an answering point on 911, SIPp as the cloud route's
answering point, and a webhook receiver for box-a's emergency contact.

In order (each leaves what the next needs; after the first 911 box-a's line is in its call-back window):
- the line busy with a call for another holder (bob → alice's number, answered at box-b): 911 at box-a
  drops it and goes out the line at once;
- the location unconfirmed (the receiver moved 2.3 km): 911 over the moved prompt dials at once and the
  record and the notification say unconfirmed;
- GPS lost (the receiver goes quiet): 911 dials at once with the recorded civic address, no position;
- the modem unplugged: 911 goes by the cloud's SIP route to the answering point, the caller hears a
  spoken reason meanwhile, voice comes back through SIPp's echo.
Each checks what the caller and the answering point get and the call's single record.
"""

from __future__ import annotations

import os
import pty
import re
import shutil
import socket
import subprocess
import threading
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from roamline.hil.exchange.control import request as exchange_request
from roamline.hil.notify_sinks import WebhookSink
from roamline.hil.rig import load_rig
from roamline.hil.rigrun import RigRunner, last_json, roamline
from roamline.hil.sipp import SippPeer
from roamline.wire import sip

pytestmark = [
    pytest.mark.skipif(shutil.which("gpsd") is None, reason="gpsd not installed (scripts/bootstrap.sh)"),
    pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp (sip-tester) is not installed"),
    pytest.mark.timeout(300),  # the module's rig (registry, exchange, two boxes, gpsd) is charged to test 1
]

ALICE = "+15550100001"  # alice's number: box-a's own line
BOB = "+15550300003"
HOME = (39.7990, -89.6440)  # box-a's recorded point
AWAY = (39.8200, -89.6440)  # 2.3 km north
PSAP_UAS = Path(__file__).parents[2] / "cloud" / "sos" / "psap_uas.xml"

RIG = """
name = "e911-faults"
[cloud]
host = "127.0.0.1"
[[accounts]]
name = "alice"
numbers = ["+15550100001"]
[[cards]]
name = "alice-card"
account = "alice"
[[boxes]]
name = "box-a"
civic = { country = "US", A1 = "IL", A3 = "Springfield", HNO = "12", RD = "Elm Street", FLR = "1", \
PC = "62701" }
point = [39.7990, -89.6440]
line = { number = "+15550100001", modem = "cx93001" }
phone = { backend = "sim" }
emergency_contacts = ["WEBHOOK"]
[[boxes]]
name = "box-b"
civic = { country = "US", A1 = "IL", A3 = "Shelbyville", HNO = "400", RD = "Harbour Road", PC = "62565" }
phone = { backend = "sim" }
[exchange]
answering_points = ["911"]
[[exchange.phones]]
number = "+15550300003"
name = "BOB JONES"
"""


# --- a GPS receiver on a pty (NMEA at 2 Hz), read by a real gpsd -------------------------------------


def _cs(body: str) -> str:
    c = 0
    for ch in body:
        c ^= ord(ch)
    return f"${body}*{c:02X}\r\n"


def _epoch(t: int, lat: float, lon: float) -> str:
    la, lo = abs(lat), abs(lon)
    pos = (f"{int(la):02d}{(la - int(la)) * 60:08.5f},{'N' if lat >= 0 else 'S'},"
           f"{int(lo):03d}{(lo - int(lo)) * 60:08.5f},{'E' if lon >= 0 else 'W'}")
    hms = f"12{(t // 60) % 60:02d}{t % 60:02d}.00"
    return (_cs(f"GPRMC,{hms},A,{pos},0.01,,021226,,,A")
            + _cs(f"GPGGA,{hms},{pos},1,09,0.90,182.4,M,-33.9,M,,")
            + _cs("GPGSA,A,3,05,13,15,18,20,24,29,,,,,,1.62,0.90,1.33")
            + _cs(f"GPGST,{hms},12,2.1,2.1,0.0,1.7,1.3,4.0"))


class Receiver:
    def __init__(self) -> None:
        self.at = HOME
        self.quiet = False  # True: the receiver sends nothing (GPS lost)
        self.master, self._slave = pty.openpty()
        self.device = os.ttyname(self._slave)
        Path(self.device).chmod(0o666)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._feed, name="nmea", daemon=True)
        self._thread.start()

    def _feed(self) -> None:
        t = 0
        while not self._stop.wait(0.5):
            if not self.quiet:
                os.write(self.master, _epoch(t, *self.at).encode("ascii"))
            t += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        os.close(self.master)
        os.close(self._slave)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Receiver, int]]:
    rx = Receiver()
    port = _free_port()
    sock = Path(tmp_path_factory.mktemp("gpsd")) / "control.sock"
    p = subprocess.Popen(["gpsd", "-N", "-n", "-b", "-S", str(port), "-F", str(sock), rx.device],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield rx, port
    finally:
        os.killpg(p.pid, 15)
        p.wait(timeout=10)
        rx.close()


@pytest.fixture(scope="module")
def hook() -> Iterator[WebhookSink]:
    with WebhookSink() as sink:
        yield sink


@pytest.fixture(scope="module")
def rig(receiver: tuple[Receiver, int], hook: WebhookSink,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[RigRunner]:
    tmp = Path(tmp_path_factory.mktemp("e911f"))
    (tmp / "rig.toml").write_text(RIG.replace("WEBHOOK", hook.url), encoding="utf-8")
    runner = RigRunner(load_rig(tmp / "rig.toml"), tmp / "run",
                       box_gpsd={"box-a": f"127.0.0.1:{receiver[1]}"},
                       box_link={"request_timeout_s": 2.0, "backoff_initial_s": 0.2, "backoff_max_s": 1.0},
                       registry_args=("--notify-timeout", "3"))
    with runner:
        yield runner


# --- helpers ---------------------------------------------------------------------------------------------


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out ({timeout:.0f} s) waiting for {what}")
        time.sleep(0.1)


def cloud_json(rig: RigRunner, *args: str) -> Any:
    return last_json(roamline("cloud", *args, "--data", str(rig.cloud_dir), "--json"))


def emergency_record(rig: RigRunner, call_id: str) -> dict[str, Any]:
    """The registry's emergency record of ``call_id`` (exactly one), once its notification is done."""
    def done() -> dict[str, Any] | None:
        recs = [r for r in cloud_json(rig, "emergencies") if r["call_id"] == call_id]
        assert len(recs) <= 1, recs
        return recs[0] if recs and recs[0]["notify_state"] != "pending" else None

    return dict(wait_until(done, 15, f"the emergency record of {call_id}"))


def call_record(rig: RigRunner, call_id: str) -> dict[str, Any]:
    """The one call record of ``call_id``, closed."""
    def done() -> dict[str, Any] | None:
        recs = [c for c in rig.calls() if c["call_id"] == call_id]
        assert len(recs) <= 1, recs
        return recs[0] if recs and recs[0]["state"] == "closed" else None

    return dict(wait_until(done, 15, f"the call record of {call_id}"))


def call_id_of(line: str) -> str:
    m = re.search(r"call_id=(\S+)", line)
    assert m is not None, line
    return m.group(1)


def dials_to_911(rig: RigRunner, known: set[int]) -> list[dict[str, Any]]:
    return [c for c in rig.exchange_status()["calls"] if c["callee"] == "911" and c["id"] not in known]


def known_911(rig: RigRunner) -> set[int]:
    return {int(c["id"]) for c in rig.exchange_status()["calls"] if c["callee"] == "911"}


def key_911(rig: RigRunner, phone: Any, *, prompt: bool = False) -> tuple[str, float, int]:
    """Lift box-a's handset and key 911 (over the moved prompt when ``prompt``): the box's
    ``emergency.dialled`` line, when the keys were sent, and the log mark before the lift."""
    mark = rig.box_log_mark("box-a")
    phone.lift()
    if prompt:
        rig.wait_box_event("box-a", r"location\.prompt", mark, timeout=10)
    else:
        rig.wait_box_event("box-a", "off-hook", mark, timeout=10)
    keyed = time.monotonic()
    phone.key_dtmf("911")
    return rig.wait_box_event("box-a", r"emergency\.dialled", mark, timeout=10), keyed, mark


def hang_up(rig: RigRunner, box: str) -> None:
    mark = rig.box_log_mark(box)
    rig.handset(box).hang_up()
    rig.wait_box_event(box, "on-hook", mark, timeout=10)


def hangup_911(rig: RigRunner) -> None:
    hang_up(rig, "box-a")
    exchange_request(rig.exchange_control, {"op": "hangup", "number": "911"})


def the_hook(hook: WebhookSink, call_id: str) -> dict[str, Any]:
    def got() -> dict[str, Any] | None:
        bodies = [h.json() for h in hook.hooks if h.json().get("call_id") == call_id]
        assert len(bodies) <= 1, bodies
        return bodies[0] if bodies else None

    return dict(wait_until(got, 10, f"the webhook for {call_id}"))


def wav(path: Path) -> np.ndarray[Any, Any]:
    with wave.open(str(path), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)


def best_match(heard: np.ndarray[Any, Any], said: np.ndarray[Any, Any]) -> float:
    """Highest normalised correlation of the prompt's first or second half second against the recording."""
    best = 0.0
    for k in range(2):
        probe = said[k * 4000:(k + 1) * 4000]
        probe = probe - probe.mean()
        if len(heard) < len(probe) or not probe.any():
            continue
        n = 1 << int(np.ceil(np.log2(len(heard) + len(probe))))
        spec = np.fft.rfft(heard, n) * np.conj(np.fft.rfft(probe, n))
        corr = np.fft.irfft(spec, n)[: len(heard) - len(probe)]
        window = np.convolve(heard**2, np.ones(len(probe)), "valid")[: len(corr)]
        energy = np.sqrt(window) * np.linalg.norm(probe)
        best = max(best, float(np.max(corr / np.maximum(energy, 1e-9))))
    return best


# --- the faults ------------------------------------------------------------------------------------------


def test_911_drops_another_holders_call_on_the_line_and_goes_out_at_once(rig: RigRunner) -> None:
    """Bob calls alice's number (box-a's line); alice's card is at box-b, which answers: box-a's line
    carries alice's call. Someone at box-a dials 911: bob's call is dropped (box-b hears it end as the
    line lost) and 911 goes out box-a's line from its own number. Bob's call keeps one closed record."""
    mark_b = rig.box_log_mark("box-b")
    rig.insert("alice-card", "box-b")
    rig.wait_box_event("box-b", "registered", mark_b)
    phone_b, phone_a = rig.handset("box-b"), rig.handset("box-a")
    bob = rig.pstn(BOB)
    known = known_911(rig)
    mark_a = rig.box_log_mark("box-a")
    mark_b = rig.box_log_mark("box-b")
    try:
        bob.call(ALICE)
        bob_call = call_id_of(rig.wait_box_event("box-b", r"call\.ringing", mark_b, timeout=25))
        phone_b.lift()
        rig.wait_box_event("box-b", r"call\.answered", mark_b, timeout=10)
        wait_until(lambda: any(c["caller"] == BOB[1:] and c["state"] == "connected"
                               for c in rig.exchange_status()["calls"]), 10,
                   "box-a's line to take bob's call")
        dialled, keyed, _ = key_911(rig, phone_a)
        assert "route=own-line" in dialled, dialled
        (psap,) = wait_until(lambda: dials_to_911(rig, known), 15, "911 at the exchange")
        took_s = time.monotonic() - keyed
        assert psap["caller"] == ALICE[1:], psap  # from box-a's own line number
        (held,) = [c for c in rig.exchange_status()["calls"] if c["caller"] == BOB[1:]]
        assert held["state"] == "ended", held  # bob's call gave the line up
        ended = rig.wait_box_event("box-b", r"call\.ended", mark_b, timeout=10)
        assert "reason=line-lost" in ended, ended  # alice is told her call was lost, not hung up on
        rig.wait_box_event("box-a", r"line\.ended", mark_a, timeout=10)
        print(f"busy_line_911_s {took_s:.2f}")  # a figure (keys sent → the exchange lists the 911 call)
        assert psap["state"] in ("ringing", "connected"), psap
        emergency = call_id_of(dialled)
    finally:
        hangup_911(rig)
        hang_up(rig, "box-b")
        bob.hang_up()
        rig.remove("alice-card")
    rec = call_record(rig, bob_call)
    assert rec["end_reason"] == "line-lost" and rec["caller"].endswith(BOB[1:]), rec
    em = emergency_record(rig, emergency)
    assert em["route"] == "own-line" and em["holder"] is None and em["call_back"] == ALICE, em
    assert call_record(rig, emergency)["called"] == "911"  # the box's own report: the one record


def test_911_with_the_location_unconfirmed_dials_at_once_and_says_unconfirmed(
        rig: RigRunner, receiver: tuple[Receiver, int], hook: WebhookSink) -> None:
    box_id = rig.boxes["box-a"].box_id

    def unconfirmed() -> bool:
        from roamline.cloud.sqlite_store import SqliteStore

        with SqliteStore(rig.cloud_dir / "registry.db") as store:
            box = store.get_box(box_id)
            return box is not None and (box.location or {}).get("state") == "unconfirmed"

    receiver[0].at = AWAY
    wait_until(unconfirmed, 60, "the registry to mark box-a unconfirmed")
    known = known_911(rig)
    phone = rig.handset("box-a")
    try:
        dialled, keyed, _ = key_911(rig, phone, prompt=True)
        (psap,) = wait_until(lambda: dials_to_911(rig, known), 15, "911 at the exchange")
        print(f"unconfirmed_911_s {time.monotonic() - keyed:.2f}")
        assert psap["caller"] == ALICE[1:] and "route=own-line" in dialled, (psap, dialled)
        call_id = call_id_of(dialled)
        body = the_hook(hook, call_id)
        assert body["location"]["state"] == "unconfirmed", body  # the contacts are told
        assert "12 Elm Street" in body["address"], body
    finally:
        hangup_911(rig)
    em = emergency_record(rig, call_id)
    assert em["location"]["state"] == "unconfirmed" and em["location"]["civic"]["RD"] == "Elm Street", em
    assert em["notify_state"] == "sent", em
    assert call_record(rig, call_id)["called"] == "911"
    assert unconfirmed()  # 911 confirmed nothing


def test_911_with_gps_lost_dials_at_once_with_the_recorded_address(
        rig: RigRunner, receiver: tuple[Receiver, int], hook: WebhookSink) -> None:
    """The receiver goes quiet (gpsd stays up, no sentences): once its last fix is stale (10 s) the box
    has no position; 911 dials at once and carries the recorded civic address and no geo point (found:
    it carried the last snapshot told to the core, with a fix from before GPS was lost)."""
    receiver[0].quiet = True
    try:
        time.sleep(12.0)  # a wait, not an event: the fix ages past the box's 10 s limit
        known = known_911(rig)
        phone = rig.handset("box-a")
        try:
            dialled, keyed, _ = key_911(rig, phone, prompt=True)  # still unconfirmed from the last test
            (psap,) = wait_until(lambda: dials_to_911(rig, known), 15, "911 at the exchange")
            print(f"gps_lost_911_s {time.monotonic() - keyed:.2f}")
            assert psap["caller"] == ALICE[1:], psap
            call_id = call_id_of(dialled)
            body = the_hook(hook, call_id)
            assert "12 Elm Street" in body["address"] and body["location"]["geo"] is None, body
        finally:
            hangup_911(rig)
    finally:
        receiver[0].quiet = False
    em = emergency_record(rig, call_id)
    assert em["location"]["civic"]["RD"] == "Elm Street" and em["location"]["geo"] is None, em
    assert call_record(rig, call_id)["called"] == "911"


def _delayed_psap(tmp: Path) -> Path:
    """The answering point's scenario, ringing 2.5 s after the INVITE (so the caller's wait is heard)."""
    text = PSAP_UAS.read_text(encoding="utf-8")
    marker = "  <send>\n    <![CDATA[\n\n      SIP/2.0 180 Ringing"
    assert marker in text
    out = tmp / "psap_slow.xml"
    out.write_text(text.replace(marker, '  <pause milliseconds="2500"/>\n\n' + marker, 1), encoding="utf-8")
    return out


def test_911_with_the_modem_unplugged_goes_by_sip_and_the_caller_hears_why(
        rig: RigRunner, tmp_path: Path) -> None:
    """box-a's modem vanishes (its pty closes). 911 at box-a cannot go out the line: the box asks the
    cloud's emergency route at once and says "The telephone line is not working…" in the earpiece; the
    registry sends the INVITE to the answering point for Springfield (SIPp) with box-a's line number to
    call back; voice comes back through SIPp's echo. Found: the box redialled the absent modem every 3 s
    in silence and never asked the cloud."""
    from roamline.hil.voicecheck import HandsetEnd, Probe, verify

    mark = rig.box_log_mark("box-a")
    assert exchange_request(rig.exchange_control, {"op": "unplug", "number": ALICE[1:]}).get("ok")
    try:
        rig.wait_box_event("box-a", r"line\.modem-lost", mark, timeout=10)
        with SippPeer(_delayed_psap(tmp_path), tmp_path / "sipp") as peer:
            f = tmp_path / "psaps.csv"
            f.write_text("name,uri,lat,lon,radius_m,country,A1,A3\n"
                         f"springfield,{peer.uri},,,,US,IL,Springfield\n", encoding="utf-8")
            roamline("cloud", "psap", "import", str(f), "--data", str(rig.cloud_dir), "--json")
            phone = rig.handset("box-a")
            known = known_911(rig)
            try:
                dialled, _, mark = key_911(rig, phone, prompt=True)
                assert "route=sip" in dialled, dialled
                phone.record_start()
                time.sleep(2.0)  # the answering point has not rung yet
                phone.record_stop(tmp_path / "waiting.wav")
                rig.wait_box_event("box-a", r"call\.answered", mark, timeout=15)
                time.sleep(0.5)
                hs = HandsetEnd(phone, workdir=tmp_path)
                echoed = verify(hs, hs, Probe("tone", hz=1004.0, seconds=1.0), settle_s=1.0)
                assert echoed.ok, echoed  # voice reaches the answering point and comes back
                call_id = call_id_of(dialled)
            finally:
                hang_up(rig, "box-a")
            assert peer.wait(timeout=20) == 0, peer.output()[-3000:]  # SIPp's own checks passed
            invites = [m for m in peer.messages() if m.startswith("INVITE ")]
            # one call: the INVITE was retransmitted (T1 timers) while SIPp kept silent, never a second one
            call_ids = {ln.partition(":")[2].strip() for m in invites for ln in m.splitlines()
                        if ln.lower().startswith("call-id:")}
            assert invites and len(call_ids) == 1, call_ids
        said = wav(rig.boxes["box-a"].dir / "data" / "prompts" / "emergency-no-line.wav")
        score = best_match(wav(tmp_path / "waiting.wav"), said)
        assert score > 0.5, f"the caller did not hear why they wait (correlation {score:.2f})"
        head = invites[0].split("\n\n", 1)[0]
        pai = [ln for ln in head.splitlines() if ln.lower().startswith("p-asserted-identity:")]
        assert pai and sip.uri_of(pai[0].partition(":")[2].strip()) == f"tel:{ALICE}", pai
        assert not dials_to_911(rig, known)  # nothing went to the exchange (no modem)
        em = emergency_record(rig, call_id)
        assert em["route"] == "sip" and em["call_back"] == ALICE, em
        rec = call_record(rig, call_id)
        assert rec["route"] == "sos" and rec["line"] == peer.uri and rec["outcome"] == "answered", rec
    finally:
        mark = rig.box_log_mark("box-a")
        assert exchange_request(rig.exchange_control, {"op": "replug", "number": ALICE[1:]}).get("ok")
        rig.wait_box_event("box-a", r"line\.modem-found", mark, timeout=15)
