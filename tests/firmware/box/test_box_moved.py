"""The moved-location prompt through a real box process: box-a of the demo rig reads a real gpsd whose
receiver (NMEA on a pty, written by the test) first says box-a's recorded address, then 2.3 km away (the
test moves it once the card is registered), so the box reports itself unconfirmed (`roamline cloud where`
shows it); the next off-hook speaks the recorded address into the earpiece, key 1 confirms it, and the
registry records that alice's card confirmed it."""

from __future__ import annotations

import os
import pty
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

from roamline.cloud.sqlite_store import SqliteStore
from roamline.hil.proc import ProcessFailed
from roamline.hil.rig import load_rig
from roamline.hil.rigrun import RigRunner, last_json, roamline

ALICE = "+15550100001"
HOME = (39.7990, -89.6440)  # box-a's recorded point (the demo rig)
AWAY = (39.8200, -89.6440)  # 2.3 km north


def cs(body: str) -> str:
    c = 0
    for ch in body:
        c ^= ord(ch)
    return f"${body}*{c:02X}\r\n"


def nmea_epoch(t: int, lat: float, lon: float) -> str:
    la, lo = abs(lat), abs(lon)
    pos = (f"{int(la):02d}{(la - int(la)) * 60:08.5f},{'N' if lat >= 0 else 'S'},"
           f"{int(lo):03d}{(lo - int(lo)) * 60:08.5f},{'E' if lon >= 0 else 'W'}")
    hms = f"12{(t // 60) % 60:02d}{t % 60:02d}.00"
    return (cs(f"GPRMC,{hms},A,{pos},0.01,,021226,,,A") + cs(f"GPGGA,{hms},{pos},1,09,0.90,182.4,M,-33.9,M,,")
            + cs("GPGSA,A,3,05,13,15,18,20,24,29,,,,,,1.62,0.90,1.33")
            + cs(f"GPGST,{hms},12,2.1,2.1,0.0,1.7,1.3,4.0"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """A GPS receiver on a pty: NMEA at 2 Hz for wherever ``at`` says, read by a real gpsd (``-n``)."""

    def __init__(self) -> None:
        self.at = HOME
        self.master, self._slave = pty.openpty()
        self.device = os.ttyname(self._slave)
        Path(self.device).chmod(0o666)  # gpsd may read it as its own user
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._feed, name="nmea", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _feed(self) -> None:
        t = 0
        while not self._stop.wait(0.5):
            os.write(self.master, nmea_epoch(t, *self.at).encode("ascii"))
            t += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        os.close(self.master)
        os.close(self._slave)


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Receiver, int]]:
    if shutil.which("gpsd") is None:
        pytest.skip("gpsd not installed (scripts/bootstrap.sh installs it)")
    rx = Receiver()
    rx.start()
    port = free_port()
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
def rig(receiver: tuple[Receiver, int], tmp_path_factory: pytest.TempPathFactory) -> Iterator[RigRunner]:
    runner = RigRunner(load_rig("demo"), Path(tmp_path_factory.mktemp("moved")),
                       box_gpsd={"box-a": f"127.0.0.1:{receiver[1]}"}, idle_boxes=frozenset({"box-b"}))
    with runner:
        yield runner


def cloud(rig: RigRunner, *args: str) -> Any:
    return last_json(roamline("cloud", *args, "--data", str(rig.cloud_dir), "--json"))


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def wav_samples(path: Path) -> np.ndarray[Any, Any]:
    with wave.open(str(path), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)


def best_match(heard: np.ndarray[Any, Any], said: np.ndarray[Any, Any]) -> float:
    """Highest normalised correlation of any of the prompt's first three seconds against the recording
    (by FFT): one second lost to a scheduling hiccup on a loaded machine does not hide the rest."""
    return max(_match(heard, said[k * 8000:(k + 1) * 8000]) for k in range(3))


def _match(heard: np.ndarray[Any, Any], said: np.ndarray[Any, Any]) -> float:
    probe = said - said.mean()
    if len(heard) < len(probe):
        return 0.0
    n = 1 << int(np.ceil(np.log2(len(heard) + len(probe))))
    corr = np.fft.irfft(np.fft.rfft(heard, n) * np.conj(np.fft.rfft(probe, n)), n)[: len(heard) - len(probe)]
    energy = np.sqrt(np.convolve(heard**2, np.ones(len(probe)), "valid")[: len(corr)]) * np.linalg.norm(probe)
    return float(np.max(corr / np.maximum(energy, 1e-9)))


def test_a_moved_box_asks_at_off_hook_and_the_holders_key_1_confirms(
        rig: RigRunner, receiver: tuple[Receiver, int], tmp_path: Path) -> None:
    mark = rig.box_log_mark("box-a")
    rig.insert("alice-card", "box-a")
    rig.wait_box_event("box-a", "registered", mark)
    time.sleep(2.0)  # fixes at home meanwhile: the box's reference
    receiver[0].at = AWAY

    def state() -> str | None:
        entries = cloud(rig, "where", ALICE)
        at_a = [e for e in entries if e["box_id"] == rig.boxes["box-a"].box_id]
        return at_a[0]["location_state"] if at_a else None

    try:
        wait_until(lambda: state() == "unconfirmed", 60, "the registry to mark box-a unconfirmed")
    except AssertionError:
        said = [x for x in rig.boxes["box-a"].process.output() if "gps" in x or "location" in x]
        raise AssertionError(f"box-a never reported moving: {said[-10:]}") from None
    prompt = rig.boxes["box-a"].dir / "data" / "prompts" / "moved-0.wav"
    assert prompt.is_file()
    phone = rig.handset("box-a")
    heard = tmp_path / "earpiece.wav"
    mark = rig.box_log_mark("box-a")
    try:
        phone.record_start()
        phone.lift()
        rig.wait_box_event("box-a", r"location\.prompt", mark, timeout=10)
        time.sleep(5.0)  # most of the prompt into the earpiece
        phone.record_stop(heard)
        phone.key_dtmf("1")
        line = rig.wait_box_event("box-a", r"location\.confirmed", mark, timeout=10)
        assert rig.cards["alice-card"].card_id in line, line
    finally:
        hung = rig.box_log_mark("box-a")
        phone.hang_up()
    # on hook only once the hook stayed down past a flash (a lift before that would be a hook flash)
    rig.wait_box_event("box-a", "on-hook", hung, timeout=10)
    score = best_match(wav_samples(heard), wav_samples(prompt))
    assert score > 0.5, f"the earpiece did not carry the moved prompt (correlation {score:.2f})"
    wait_until(lambda: state() == "confirmed", 15, "the registry to record the confirmation")
    # no second question at the next off-hook
    mark = rig.box_log_mark("box-a")
    try:
        phone.lift()
        rig.wait_box_event("box-a", "off-hook", mark, timeout=10)
        with pytest.raises(ProcessFailed):
            rig.wait_box_event("box-a", r"location\.prompt", mark, timeout=1.5)
    finally:
        gone = rig.box_log_mark("box-a")
        phone.hang_up()
        rig.remove("alice-card")
    rig.wait_box_event("box-a", "holder-wiped", gone, timeout=15)
    rig.wait_box_event("box-a", "on-hook", gone, timeout=10)  # before the next test lifts


def test_911_keyed_while_the_moved_prompt_plays_goes_out_the_line_at_once(
        rig: RigRunner, receiver: tuple[Receiver, int]) -> None:
    """The box moves again (back home, 2.3 km from where it was confirmed): the prompt plays at the next
    off-hook, and 911 keyed over it is dialled out box-a's own line with no card in — the prompt holds
    nothing up; the location stays unconfirmed afterwards."""
    box_id = rig.boxes["box-a"].box_id

    def unconfirmed() -> bool:
        with SqliteStore(rig.cloud_dir / "registry.db") as store:
            box = store.get_box(box_id)
            return box is not None and (box.location or {}).get("state") == "unconfirmed"

    receiver[0].at = HOME
    wait_until(unconfirmed, 60, "the registry to mark box-a unconfirmed again")
    phone = rig.handset("box-a")
    mark = rig.box_log_mark("box-a")
    try:
        phone.lift()
        rig.wait_box_event("box-a", r"location\.prompt", mark, timeout=10)
        phone.key_dtmf("911")  # while the prompt plays
        told = rig.wait_box_event("box-a", r"emergency\.dialled", mark, timeout=10)
        assert "route=own-line" in told, told
        deadline = time.monotonic() + 15
        while not any(c["caller"] == "15550100001" and c["callee"] == "911"
                      for c in rig.exchange_status()["calls"]):
            assert time.monotonic() < deadline, rig.exchange_status()["calls"]
            time.sleep(0.1)
    finally:
        hung = rig.box_log_mark("box-a")
        phone.hang_up()
        rig.pstn("911").hang_up()
    rig.wait_box_event("box-a", "on-hook", hung, timeout=10)
    assert unconfirmed()  # 911 confirmed nothing
