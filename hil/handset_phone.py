"""A telephone attached to a box process: mock SLIC pins and paced audio, in real time.

``hil.handset.HandsetSim`` drives the handset runner on a virtual clock in the same process as a test.
A rig box runs as its own process, so this phone lives *inside* the box process instead, as the
simulated handset backend (``hil.handset_backend``): the box's firmware claims the SLIC pins from this
phone's gpiozero mock factory and its audio device is this phone's line, and a control socket
(``hil.handset_control``) lets tests and ``roamline hil handset …`` lift it, dial, speak and listen.

What the phone does is what a person and a telephone do:

- the hook switch (with contact chatter), hook flash, rotary pulse dialling: edges scheduled on a
  timer thread that sleeps until each one is due and drives the mock hook pin;
- keypad DTMF (its own tone generator), WAV files and tones into the mouthpiece;
- the earpiece: recorded on demand (for a duration, or start/stop), and fed to an FSK receiver
  (``firmware.audio.fsk``) while on-hook, as a caller-ID display does;
- the bell: the SLIC's ring-mode output is watched, and each ring episode is reported with its
  measured on/off cadence, the named cadence it matches, and the caller ID decoded around it.

Audio is paced on the real clock: the box's audio thread reads one block at a time and each read
sleeps until its samples are due, so nothing spins. Times are ``time.monotonic()`` (system-wide on
Linux, so a client process can compare them with its own).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from gpiozero.pins.mock import MockFactory, MockPin

from roamline.board.core.cadence import CADENCES
from roamline.board.profile import BoardProfile as Profile
from roamline.firmware.audio import fsk
from roamline.firmware.audio.device import AudioDevice, Int16Array, as_samples
from roamline.firmware.audio.device_file import read_wav, write_wav
from roamline.firmware.callerid import codec as cm
from roamline.hil.errors import UsageError
from roamline.hil.handset import dtmf_audio

RING_EPISODE_GAP_S = 6.5  # silence longer than any cadence's pause (4 s) ends a ring episode
CID_WINDOW_S = 5.0  # caller ID decoded this long before an episode (ETSI/BT: before the first ring) counts
MAX_RECORD_S = 600.0
MAX_MIC_S = 600.0
CADENCE_TOLERANCE_MS = 60  # a measured segment matches a named cadence's within this


class WatchedPin(MockPin):  # type: ignore[misc]
    """A mock pin that tells ``on_change(level, monotonic)`` about each change of its state."""

    on_change: Callable[[bool, float], None] | None = None

    def _change_state(self, value: bool) -> bool:
        changed = bool(super()._change_state(value))
        cb = self.on_change
        if changed and cb is not None:
            cb(bool(value), time.monotonic())
        return changed


class PhoneFactory(MockFactory):  # type: ignore[misc]
    """gpiozero's mock pin factory with watched pins: what the box's SlicPins claims its pins from."""

    def __init__(self) -> None:
        super().__init__(pin_class=WatchedPin)


def tone_audio(freqs: tuple[float, ...], ms: float, rate: int, level_dbfs: float = -12.0) -> Int16Array:
    """A steady tone (one or several frequencies summed, total peak at ``level_dbfs``)."""
    if not freqs or any(not 0 < f < rate / 2 for f in freqs):
        raise UsageError(f"tone frequencies must be between 0 and {rate // 2} Hz")
    if not 0 < ms <= MAX_MIC_S * 1000:
        raise UsageError("a tone lasts 1 ms .. 600 s")
    t = np.arange(round(rate * ms / 1000)) / rate
    amp = 32767 * 10 ** (level_dbfs / 20) / len(freqs)
    x = sum(amp * np.sin(2 * np.pi * f * t) for f in freqs)
    return np.round(np.asarray(x)).astype(np.int16)


def match_cadence(segments_ms: list[int]) -> str | None:
    """The named cadence (``board.core.cadence.CADENCES``) whose full cycles the measured on/off
    segments follow, or None. At least one whole cycle must have been measured."""
    for name, cad in CADENCES.items():
        if name == "us":
            continue  # the same as us-dr1: report the distinctive-ring name
        n = len(cad)
        if len(segments_ms) < n - 1:  # the last pause of a cycle may still be running
            continue
        if all(abs(s - cad[i % n]) <= CADENCE_TOLERANCE_MS for i, s in enumerate(segments_ms)):
            return name
    return None


@dataclass
class RingEpisode:
    """One ringing: from the first burst until the phone is lifted or the bell stays quiet."""

    index: int
    start: float
    segments_ms: list[int] = field(default_factory=list)  # on, off, on, ... of completed segments
    on: bool = True
    last_edge: float = 0.0
    answered: bool = False
    ended: bool = False
    caller_id: dict[str, Any] | None = None

    @property
    def bursts(self) -> int:
        return (len(self.segments_ms) + 1) // 2 + (1 if self.on and len(self.segments_ms) % 2 == 0 else 0)

    def describe(self, now: float) -> dict[str, Any]:
        active = not self.ended and (self.on or now - self.last_edge < RING_EPISODE_GAP_S)
        return {"index": self.index, "start": round(self.start, 4), "cadence_ms": list(self.segments_ms),
                "cadence": match_cadence(self.segments_ms), "bursts": self.bursts, "ringing": active,
                "answered": self.answered, "caller_id": self.caller_id}


@dataclass(order=True)
class _Edge:
    at: float
    seq: int
    off_hook: bool = field(compare=False)


def _cid_dict(msg: cm.CallerId, at: float) -> dict[str, Any]:
    when = None if msg.when is None else f"{msg.when.month:02d}-{msg.when.day:02d} " \
                                         f"{msg.when.hour:02d}:{msg.when.minute:02d}"
    return {"number": msg.number, "name": msg.name, "when": when,
            "number_absent": None if msg.number_absent is None else str(msg.number_absent),
            "name_absent": None if msg.name_absent is None else str(msg.name_absent), "at": round(at, 4)}


class PhoneAudio(AudioDevice):
    """The box's end of the phone's audio line, paced on the real clock: ``read(n)`` returns when
    its n samples are due (n / rate after the previous read's), so the box's audio thread sleeps
    between blocks. What the box writes is the earpiece; what it reads is the mouthpiece."""

    def __init__(self, phone: Phone) -> None:
        self.rate = phone.rate
        self._phone = phone
        self._open = False
        self._due: float | None = None
        self.late_s = 0.0  # how far behind its schedule the box's audio thread fell, at worst

    @property
    def is_open(self) -> bool:
        return self._open

    def open(self) -> None:
        self._open = True
        self._due = None

    def close(self) -> None:
        self._open = False

    def read(self, n: int) -> Int16Array:
        self._check_open()
        now = time.monotonic()
        if self._due is None or now - self._due > 0.5:  # first read, or the box stalled: resync
            self._due = now
        self._due += n / self.rate
        if self._due > now:
            time.sleep(self._due - now)
        else:
            self.late_s = max(self.late_s, now - self._due)
        return self._phone.mouthpiece(n)

    def write(self, samples: npt.ArrayLike) -> None:
        self._check_open()
        self._phone.earpiece(as_samples(samples))


class Phone:
    """The telephone on a profile's SLIC pins. ``open`` before the box claims the pins; ``close``
    after. All methods are thread-safe (the control socket calls them from its own threads)."""

    def __init__(self, profile: Profile, *, seed: int | None = 1, country: str = "US") -> None:
        self.profile = profile
        self.rate = profile.handset_audio.rate
        self.factory = PhoneFactory()
        self.audio = PhoneAudio(self)
        self.rng = random.Random(seed) if seed is not None else None
        self._modem = fsk.V23 if country.upper() in ("GB", "UK", "DE") else fsk.BELL202
        self._lock = threading.Condition()
        self._edges: list[_Edge] = []
        self._seq = itertools.count()
        self._timer: threading.Thread | None = None
        self._stop = threading.Event()
        self._off_hook = False  # the phone's own hook, as last scheduled
        self._hook_level = False  # the contact as driven now
        self._mic: list[Int16Array] = []
        self._mic_pos = 0
        self._rec: list[Int16Array] | None = None
        self._rec_len = 0
        self._rec_limit: int | None = None
        self._rings: list[RingEpisode] = []
        self._cids: list[tuple[float, dict[str, Any]]] = []
        self._mwi: list[dict[str, Any]] = []
        self._fsk = fsk.FskReceiver(self._modem, self.rate) if self.rate >= 2.2 * self._modem.space_hz \
            else None
        self._fsk_quiet = True
        self._opened = False

    # -- lifecycle ----------------------------------------------------------------------------------
    def open(self) -> None:
        if self._opened:
            return
        s = self.profile.slic
        hook: WatchedPin = self.factory.pin(s.hook_pin)
        self._drive(False)
        hook.on_change = None
        ring: WatchedPin = self.factory.pin(s.ring_mode_pin)
        ring.on_change = self._ring_pin
        self._stop.clear()
        self._timer = threading.Thread(target=self._timer_loop, name="phone-hook", daemon=True)
        self._timer.start()
        self._opened = True

    def close(self) -> None:
        if not self._opened:
            return
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        if self._timer is not None:
            self._timer.join(timeout=2)
            self._timer = None
        self._opened = False

    # -- the hook switch ------------------------------------------------------------------------------
    def _drive(self, off_hook: bool) -> None:
        pin: WatchedPin = self.factory.pin(self.profile.slic.hook_pin)
        high = off_hook == (self.profile.slic.hook_off_level == "high")
        if high:
            pin.drive_high()
        else:
            pin.drive_low()
        self._hook_level = off_hook

    def _schedule(self, off_hook: bool, at: float) -> None:
        """One mechanical transition at ``at`` (lock held): the contact chatters for up to 5 ms."""
        heapq.heappush(self._edges, _Edge(at, next(self._seq), off_hook))
        if self.rng is None:
            return
        t, lvl = at, off_hook
        for _ in range(self.rng.randint(0, 4)):
            t += self.rng.uniform(0.0003, 0.0015)
            lvl = not lvl
            heapq.heappush(self._edges, _Edge(t, next(self._seq), lvl))
        if lvl != off_hook:
            heapq.heappush(self._edges, _Edge(t + 0.0005, next(self._seq), off_hook))

    def _last_edge(self) -> float:
        return max((e.at for e in self._edges), default=time.monotonic())

    def _hook(self, off_hook: bool) -> float:
        with self._lock:
            at = max(time.monotonic(), self._last_edge() + 0.001)
            self._schedule(off_hook, at)
            self._off_hook = off_hook
            self._lock.notify_all()
            return at + 0.006

    def lift(self) -> float:
        """Lift the handset; returns when the contact has settled (monotonic)."""
        return self._hook(True)

    def hang_up(self) -> float:
        return self._hook(False)

    def flash(self, ms: float = 300.0) -> float:
        if not 10 <= ms <= 5000:
            raise UsageError("a hook flash lasts 10..5000 ms")
        with self._lock:
            if not self._off_hook:
                raise UsageError("hook flash needs the handset lifted")
            t = max(time.monotonic(), self._last_edge() + 0.001)
            self._schedule(False, t)
            self._schedule(True, t + ms / 1000)
            self._lock.notify_all()
            return t + ms / 1000 + 0.006

    def dial_pulses(self, digits: str, pps: float = 10.0, break_ratio: float = 0.6,
                    gap_ms: float = 600.0) -> float:
        """Rotary dial: each digit is n breaks (10 for 0); returns when the last one has ended."""
        if not digits or not all(d.isdigit() for d in digits):
            raise UsageError(f"a rotary dial has only digits 0-9, not {digits!r}")
        if not 4 <= pps <= 25 or not 0.3 <= break_ratio <= 0.8 or not 0 <= gap_ms <= 5000:
            raise UsageError("pulse dialling needs 4..25 pps, a break ratio of 0.3..0.8, a gap of 0..5000 ms")
        with self._lock:
            if not self._off_hook:
                raise UsageError("pulse dialling needs the handset lifted")
            t = max(time.monotonic() + 0.01, self._last_edge() + 0.01)
            period = 1.0 / pps
            for d in digits:
                for _ in range(int(d) or 10):
                    self._schedule(False, t)
                    self._schedule(True, t + period * break_ratio)
                    t += period
                t += gap_ms / 1000 - period * (1 - break_ratio)
            self._lock.notify_all()
            return t

    def _timer_loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                now = time.monotonic()
                while self._edges and self._edges[0].at <= now:
                    e = heapq.heappop(self._edges)
                    self._drive(e.off_hook)
                    if e.off_hook:
                        self._end_ring(answered=True)
                wait = (self._edges[0].at - now) if self._edges else 1.0
                if wait > 0:
                    self._lock.wait(min(wait, 1.0))

    @property
    def off_hook(self) -> bool:
        return self._off_hook

    # -- the mouthpiece ---------------------------------------------------------------------------------
    def _say(self, samples: Int16Array) -> float:
        with self._lock:
            queued = sum(len(m) for m in self._mic) - self._mic_pos
            if (queued + len(samples)) / self.rate > MAX_MIC_S:
                raise UsageError(f"more than {MAX_MIC_S:.0f} s queued for the mouthpiece")
            self._mic.append(np.asarray(samples, dtype=np.int16))
            return time.monotonic() + (queued + len(samples)) / self.rate

    def key_dtmf(self, keys: str, on_ms: int = 80, off_ms: int = 80) -> float:
        """Key DTMF into the mouthpiece after whatever is queued; returns when it has been said."""
        if not keys or not 20 <= on_ms <= 2000 or not 20 <= off_ms <= 2000:
            raise UsageError("DTMF needs keys and on/off times of 20..2000 ms")
        return self._say(dtmf_audio(keys, self.rate, on_ms, off_ms))

    def play(self, wav: str | Path) -> float:
        try:
            x = read_wav(Path(wav), self.rate)
        except Exception as exc:  # AudioDeviceError / AudioUsageError from the reader
            raise UsageError(str(exc)) from None
        return self._say(x)

    def tone(self, freqs: tuple[float, ...], ms: float, level_dbfs: float = -12.0) -> float:
        return self._say(tone_audio(freqs, ms, self.rate, level_dbfs))

    def say(self, samples: npt.ArrayLike) -> float:
        return self._say(as_samples(samples))

    def quiet(self) -> None:
        """Stop whatever is being said into the mouthpiece."""
        with self._lock:
            self._mic, self._mic_pos = [], 0

    def mic_queued_s(self) -> float:
        with self._lock:
            return (sum(len(m) for m in self._mic) - self._mic_pos) / self.rate

    def mouthpiece(self, n: int) -> Int16Array:
        """The next n samples of the mouthpiece (silence when nothing is being said)."""
        out = np.zeros(n, dtype=np.int16)
        with self._lock:
            filled = 0
            while self._mic and filled < n:
                cur = self._mic[0]
                part = cur[self._mic_pos:self._mic_pos + n - filled]
                out[filled:filled + len(part)] = part
                filled += len(part)
                self._mic_pos += len(part)
                if self._mic_pos >= len(cur):
                    self._mic.pop(0)
                    self._mic_pos = 0
            if not self._off_hook:
                out[:] = 0  # an on-hook handset's mouthpiece is disconnected
        return out

    # -- the earpiece -------------------------------------------------------------------------------------
    def earpiece(self, x: Int16Array) -> None:
        now = time.monotonic()
        with self._lock:
            if self._rec is not None:
                self._rec.append(x.copy())
                self._rec_len += len(x)
                if self._rec_limit is not None and self._rec_len >= self._rec_limit:
                    self._lock.notify_all()
        if self._fsk is not None and not self._hook_level:
            loud = bool(np.any(x))
            if loud or not self._fsk_quiet:
                for e in self._fsk.feed(x):
                    if isinstance(e, fsk.FskMessage):
                        self._heard_message(e.message, now)
            self._fsk_quiet = not loud

    def _heard_message(self, msg: cm.Message, now: float) -> None:
        with self._lock:
            if isinstance(msg, cm.CallerId):
                cid = _cid_dict(msg, now)
                self._cids.append((now, cid))
                del self._cids[:-32]
                ep = self._rings[-1] if self._rings else None
                if ep is not None and not ep.ended and now - ep.last_edge < RING_EPISODE_GAP_S:
                    ep.caller_id = cid
            elif isinstance(msg, cm.MessageWaiting):
                self._mwi.append({"active": msg.active, "count": msg.count, "at": round(now, 4)})
                del self._mwi[:-32]
            self._lock.notify_all()

    def record_start(self) -> None:
        with self._lock:
            self._rec, self._rec_len, self._rec_limit = [], 0, None

    def record_stop(self) -> Int16Array:
        with self._lock:
            rec, self._rec, self._rec_limit = self._rec, None, None
        if rec is None:
            raise UsageError("the earpiece is not being recorded")
        return np.concatenate(rec) if rec else np.zeros(0, dtype=np.int16)

    def record(self, seconds: float) -> Int16Array:
        """The next ``seconds`` of the earpiece (blocks that long)."""
        if not 0 < seconds <= MAX_RECORD_S:
            raise UsageError(f"record for 0..{MAX_RECORD_S:.0f} s")
        n = round(seconds * self.rate)
        deadline = time.monotonic() + seconds + 2.0
        with self._lock:
            if self._rec is not None:
                raise UsageError("the earpiece is already being recorded")
            self._rec, self._rec_len, self._rec_limit = [], 0, n
            while self._rec_len < n and time.monotonic() < deadline and not self._stop.is_set():
                self._lock.wait(0.1)
            rec, self._rec, self._rec_limit = self._rec, None, None
        x = np.concatenate(rec) if rec else np.zeros(0, dtype=np.int16)
        if len(x) < n:
            raise UsageError(f"the box played only {len(x) / self.rate:.2f} s of the {seconds:.2f} s asked "
                             "(is its handset audio running?)")
        return x[:n]

    def save(self, samples: Int16Array, wav: str | Path) -> None:
        try:
            write_wav(Path(wav), samples, self.rate)
        except Exception as exc:
            raise UsageError(str(exc)) from None

    # -- the bell ----------------------------------------------------------------------------------------
    def _ring_pin(self, level: bool, at: float) -> None:
        ringing = level == (self.profile.slic.ring_mode_active == "high")
        with self._lock:
            ep = self._rings[-1] if self._rings else None
            if ringing:
                if ep is None or ep.ended or at - ep.last_edge >= RING_EPISODE_GAP_S:
                    ep = RingEpisode(len(self._rings), at, last_edge=at)
                    ep.caller_id = next((c for t, c in reversed(self._cids) if at - t < CID_WINDOW_S), None)
                    self._rings.append(ep)
                    del self._rings[:-64]
                else:
                    ep.segments_ms.append(round((at - ep.last_edge) * 1000))
                    ep.on, ep.last_edge = True, at
            elif ep is not None and ep.on and not ep.ended:
                ep.segments_ms.append(round((at - ep.last_edge) * 1000))
                ep.on, ep.last_edge = False, at
            self._lock.notify_all()

    def _end_ring(self, answered: bool) -> None:
        """The phone was lifted (lock held): a ringing episode ends, answered."""
        ep = self._rings[-1] if self._rings else None
        now = time.monotonic()
        if ep is not None and not ep.ended and (ep.on or now - ep.last_edge < RING_EPISODE_GAP_S):
            ep.answered, ep.ended = answered, True
            self._lock.notify_all()

    def rings(self, after: int = 0) -> list[dict[str, Any]]:
        now = time.monotonic()
        with self._lock:
            return [ep.describe(now) for ep in self._rings if ep.index >= after]

    def wait_ring(self, after: int = 0, bursts: int = 1, caller_id: bool = False,
                  timeout: float = 10.0) -> dict[str, Any]:
        """The first ring episode numbered ``after`` or later once it has ``bursts`` bursts (and a
        decoded caller ID if asked); UsageError on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                now = time.monotonic()
                for ep in self._rings:
                    if ep.index >= after and ep.bursts >= bursts and (ep.caller_id or not caller_id):
                        return ep.describe(now)
                if now >= deadline or self._stop.is_set():
                    what = f"#{after}+, {bursts} bursts" + (", caller ID" if caller_id else "")
                    raise UsageError(f"no ring ({what}) within {timeout:.1f} s")
                self._lock.wait(min(0.25, deadline - now))

    def ring_count(self) -> int:
        with self._lock:
            return self._rings[-1].index + 1 if self._rings else 0

    def caller_ids(self) -> list[dict[str, Any]]:
        with self._lock:
            return [c for _, c in self._cids]

    def message_waiting(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._mwi)

    def status(self) -> dict[str, Any]:
        now = time.monotonic()
        with self._lock:
            ringing = bool(self._rings) and self._rings[-1].describe(now)["ringing"]
            return {"off_hook": self._off_hook, "ringing": ringing, "rate": self.rate,
                    "mic_queued_s": round((sum(len(m) for m in self._mic) - self._mic_pos) / self.rate, 3),
                    "recording": self._rec is not None, "rings": len(self._rings),
                    "audio_late_ms": round(self.audio.late_s * 1000, 1), "now": round(now, 4)}

    def wait_until(self, at: float) -> None:
        """Sleep until monotonic ``at`` (bounded to 10 minutes)."""
        with contextlib.suppress(ValueError):
            time.sleep(min(max(0.0, at - time.monotonic()), 600.0))
