"""The handset simulator: a telephone wired to gpiozero's mock pins, plus its audio.

The phone closes and opens the hook switch (with contact bounce), dials pulses at any rate and ratio,
keys DTMF (its own tone generator, independent of the firmware's), speaks WAV files into the
mouthpiece and records the earpiece. It drives the real handset runner and controller on a virtual
clock: ``run_for``/``run_until`` advance time edge by edge and deadline by deadline, moving one
audio block every 20 ms, so ringing for a minute takes milliseconds and timings are exact.
Every output pin change is recorded with its virtual time (``ClockedMockFactory``).

Audio takes the box's own path: the profile's handset audio made a loopback device at the profile's
rate (``firmware.handset.audio``), the box end resampled to the controller's 8 kHz inside the runner
exactly as a USB codec's 48 kHz would be, and the phone holding the loopback's other end: it writes
the mouthpiece and reads the earpiece at the device rate (``rate``).
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from gpiozero.pins.mock import MockFactory, MockPin

from roamline.board.gpio import SlicPins
from roamline.board.profile import BoardProfile, HandsetAudio, load_profile
from roamline.firmware.audio.device import make_device
from roamline.firmware.audio.device_file import read_wav as _read_wav
from roamline.firmware.audio.device_file import write_wav
from roamline.firmware.audio.device_loopback import LoopbackEnd
from roamline.firmware.audio.device_rate import at_rate
from roamline.firmware.handset.audio import WORK_RATE, audio_config
from roamline.firmware.handset.controller import HandsetController
from roamline.firmware.handset.events import HandsetEvent
from roamline.firmware.handset.ports import CallerIdEncoder, DigitDetector, DtmfDigits, PlanTones, ToneSource
from roamline.firmware.handset.runner import HandsetRunner
from roamline.hil.errors import UsageError
from roamline.wire.clock import Clock, ManualClock

DTMF_ROWS = (697.0, 770.0, 852.0, 941.0)
DTMF_COLS = (1209.0, 1336.0, 1477.0, 1633.0)
DTMF_KEYS = ("123A", "456B", "789C", "*0#D")


class ClockedPin(MockPin):  # type: ignore[misc]
    """A mock pin that records ``(time, state)`` on the factory's clock (real or virtual)."""

    def __init__(self, factory: Any, info: Any) -> None:
        self.history: list[tuple[float, bool]] = []
        super().__init__(factory, info)

    def _change_state(self, value: bool) -> bool:
        changed = bool(super()._change_state(value))
        if changed:
            self.history.append((self.factory.clock.monotonic(), bool(value)))
        return changed


class ClockedMockFactory(MockFactory):  # type: ignore[misc]
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        super().__init__(pin_class=ClockedPin)


def dtmf_audio(keys: str, rate: int, on_ms: int = 80, off_ms: int = 80, level_dbfs: float = -10.0,
               twist_db: float = 2.0) -> np.ndarray[Any, np.dtype[np.int16]]:
    """Keypad tones as a phone makes them: low group ``twist_db`` below the high group."""
    out = []
    amp_hi = 32767 * 10 ** (level_dbfs / 20) / 2
    amp_lo = amp_hi * 10 ** (-twist_db / 20)
    t = np.arange(round(rate * on_ms / 1000)) / rate
    gap = np.zeros(round(rate * off_ms / 1000))
    for k in keys:
        row = next((r for r, keys_ in enumerate(DTMF_KEYS) if k in keys_), None)
        if row is None:
            raise UsageError(f"not a DTMF key: {k!r}")
        col = DTMF_KEYS[row].index(k)
        lo = amp_lo * np.sin(2 * np.pi * DTMF_ROWS[row] * t)
        out += [lo + amp_hi * np.sin(2 * np.pi * DTMF_COLS[col] * t), gap]
    return np.round(np.concatenate(out or [gap])).astype(np.int16)


def read_wav(path: str | Path, rate: int) -> np.ndarray[Any, np.dtype[np.int16]]:
    """A 16-bit WAV of any rate as int16 at ``rate`` (firmware.audio's reader and resampler)."""
    return _read_wav(Path(path), rate)


@dataclass(order=True)
class _Edge:
    at: float
    seq: int
    level: bool = field(compare=False)


class HandsetSim:
    """A phone on a profile's pins (the sim profile by default), driving a real HandsetRunner on a
    virtual clock. ``rate`` overrides the profile's handset audio rate (e.g. 48000 for a USB codec)."""

    def __init__(self, profile: BoardProfile | None = None, *, country: str = "US", seed: int | None = 1,
                 tones: ToneSource | None = None, detector: DigitDetector | None = None,
                 caller_id: CallerIdEncoder | None = None, audio: bool = True,
                 clock: ManualClock | None = None, rate: int | None = None, dial_tone: bool = False) -> None:
        profile = profile or load_profile("sim")
        # the phone is always on a loopback line here, whatever sound card the profile names
        self.profile = dataclasses.replace(profile, handset_audio=HandsetAudio(
            "loopback", rate or profile.handset_audio.rate))  # type: ignore[arg-type]
        self.rate = self.profile.handset_audio.rate
        self.block = self.rate // 50
        self.clock = clock or ManualClock()
        self.factory = ClockedMockFactory(self.clock)
        self.rng = random.Random(seed) if seed is not None else None
        self.events: list[HandsetEvent] = []
        self.controller = HandsetController(
            self.profile.hook_timing, self.profile.slic.ring_hz, WORK_RATE, self.clock.monotonic(),
            tones=tones if tones is not None else PlanTones(country, WORK_RATE),
            detector=detector if detector is not None else DtmfDigits(WORK_RATE),
            caller_id=caller_id, dial_tone=dial_tone)
        box_end = make_device(audio_config(self.profile.handset_audio))
        assert isinstance(box_end, LoopbackEnd)
        self.phone: LoopbackEnd = box_end.peer  # the phone's end of the handset's audio line
        self.runner = HandsetRunner(self.controller, SlicPins(self.profile, self.factory), self.clock,
                                    self.events.append, audio=at_rate(box_end, WORK_RATE) if audio else None)
        self.audio = audio
        self._edges: list[_Edge] = []
        self._seq = itertools.count()
        self._mic: list[np.ndarray[Any, np.dtype[np.int16]]] = []
        self._mic_pos = 0
        self._ear: list[np.ndarray[Any, np.dtype[np.int16]]] = []
        self._ear_t0: float | None = None
        self._next_block = self.clock.monotonic()
        self.off_hook = False  # the phone's own view of its hook switch
        self.runner.open()
        self.phone.open()

    def close(self) -> None:
        self.runner.close()
        self.phone.close()
        self.factory.close()

    def __enter__(self) -> HandsetSim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- pins ---------------------------------------------------------------------------------------
    def pin(self, n: int) -> ClockedPin:
        p: ClockedPin = self.factory.pin(n)
        return p

    @property
    def now(self) -> float:
        return self.clock.monotonic()

    def ring_history(self) -> list[tuple[float, bool]]:
        """(time, ringing) of the SLIC's ring-mode output, in logical terms."""
        active_high = self.profile.slic.ring_mode_active == "high"
        return [(t, s == active_high) for t, s in self.pin(self.profile.slic.ring_mode_pin).history]

    def reverse_history(self) -> list[tuple[float, bool]]:
        """(time, reversed) of each change of the SLIC's forward/reverse output from forward (the pin
        being set to forward when it is claimed is not a change)."""
        rev_high = self.profile.slic.reverse_level == "high"
        out: list[tuple[float, bool]] = []
        last = False
        for t, s in self.pin(self.profile.slic.forward_reverse_pin).history:
            if (s == rev_high) != last:
                last = s == rev_high
                out.append((t, last))
        return out

    # -- the user's hands -----------------------------------------------------------------------------
    def _schedule(self, level: bool, at: float) -> None:
        """One mechanical transition at ``at``: the contact chatters for up to 5 ms."""
        heapq.heappush(self._edges, _Edge(at, next(self._seq), level))
        if self.rng is None:
            return
        t, lvl = at, level
        for _ in range(self.rng.randint(0, 4)):
            t += self.rng.uniform(0.0003, 0.0015)
            lvl = not lvl
            heapq.heappush(self._edges, _Edge(t, next(self._seq), lvl))
        if lvl != level:
            heapq.heappush(self._edges, _Edge(t + 0.0005, next(self._seq), level))

    def _hook_level(self, off_hook: bool) -> bool:
        return off_hook == (self.profile.slic.hook_off_level == "high")

    def _drive(self, off_hook: bool) -> None:
        pin = self.pin(self.profile.slic.hook_pin)
        if self._hook_level(off_hook):
            pin.drive_high()
        else:
            pin.drive_low()

    def hook(self, off_hook: bool, after: float = 0.0) -> float:
        at = self.now + after
        self._schedule(off_hook, at)
        self.off_hook = off_hook
        return at

    def lift(self, after: float = 0.0) -> float:
        return self.hook(True, after)

    def hang_up(self, after: float = 0.0) -> float:
        return self.hook(False, after)

    def flash(self, ms: float, after: float = 0.0) -> float:
        """Press the cradle for ``ms``; returns when it is released."""
        t = self.hook(False, after)
        self._schedule(True, t + ms / 1000)
        self.off_hook = True
        return t + ms / 1000

    def dial_pulses(self, number: str, pps: float = 10.0, break_ratio: float = 0.6, gap_ms: float = 600,
                    after: float = 0.0) -> float:
        """Rotary dial: each digit is n breaks (10 for 0) at ``pps`` with the given break ratio."""
        t = self.now + after
        period = 1.0 / pps
        for d in number:
            if not d.isdigit():
                raise UsageError(f"a rotary dial has no {d!r}")
            for _ in range(int(d) or 10):
                self._schedule(False, t)
                self._schedule(True, t + period * break_ratio)
                t += period
            t += gap_ms / 1000 - period * (1 - break_ratio)
        self.off_hook = True
        return t

    def key_dtmf(self, keys: str, on_ms: int = 80, off_ms: int = 80, **kw: Any) -> float:
        """Key DTMF into the mouthpiece (queued after anything already being said); returns its end."""
        return self.say(dtmf_audio(keys, self.rate, on_ms, off_ms, **kw))

    def speak(self, wav: str | Path) -> float:
        return self.say(read_wav(wav, self.rate))

    def say(self, samples: np.ndarray[Any, np.dtype[np.int16]]) -> float:
        self._mic.append(np.asarray(samples, dtype=np.int16))
        queued = sum(len(m) for m in self._mic) - self._mic_pos
        return self.now + queued / self.rate

    def earpiece(self) -> np.ndarray[Any, np.dtype[np.int16]]:
        """What the earpiece played (at ``rate``) since the start or the last ``clear_earpiece``."""
        return np.concatenate(self._ear) if self._ear else np.zeros(0, dtype=np.int16)

    @property
    def earpiece_start(self) -> float:
        """The time of ``earpiece()[0]``: sample i played at ``earpiece_start + i / rate``."""
        return self._ear_t0 if self._ear_t0 is not None else self._next_block

    def clear_earpiece(self) -> None:
        self._ear = []
        self._ear_t0 = None

    def save_earpiece(self, path: str | Path) -> None:
        write_wav(Path(path), self.earpiece(), self.rate)

    def _mic_block(self) -> np.ndarray[Any, np.dtype[np.int16]]:
        out = np.zeros(self.block, dtype=np.int16)
        filled = 0
        while self._mic and filled < self.block:
            cur = self._mic[0]
            part = cur[self._mic_pos:self._mic_pos + self.block - filled]
            out[filled:filled + len(part)] = part
            filled += len(part)
            self._mic_pos += len(part)
            if self._mic_pos >= len(cur):
                self._mic.pop(0)
                self._mic_pos = 0
        return out

    # -- time -------------------------------------------------------------------------------------------
    def run_for(self, seconds: float) -> list[HandsetEvent]:
        return self.run_until(self.now + seconds)

    def run_until(self, t: float) -> list[HandsetEvent]:
        """Advance the virtual clock to ``t``; returns the events that came out meanwhile."""
        first = len(self.events)
        while True:
            cands = []
            if self._edges:
                cands.append(self._edges[0].at)
            dl = self.controller.deadline()
            if dl is not None:
                cands.append(dl)
            if self.audio:
                cands.append(self._next_block)
            nxt = min(cands) if cands else None
            if nxt is None or nxt > t:
                break
            self._advance_to(nxt)
            while self._edges and self._edges[0].at <= self.now:
                self._drive(heapq.heappop(self._edges).level)
            if self.audio and self._next_block <= self.now:
                self.phone.write(self._mic_block())
                self.runner.audio_step()
                if not self._ear:
                    self._ear_t0 = self._next_block
                self._ear.append(self.phone.read(self.block))
                self._next_block += self.block / self.rate
            self.runner.step()
        self._advance_to(t)
        self.runner.step()
        return self.events[first:]

    def _advance_to(self, t: float) -> None:
        if t > self.now:
            self.clock.advance(t - self.now)
