"""The small interfaces the handset controller needs, and adapters onto ``firmware.audio``.

Audio blocks are mono int16 numpy arrays at the controller's rate (8 kHz, the call path's rate; the
runner's audio device is adapted to it, see ``firmware.handset.audio``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from roamline.firmware.callerid.codec import CallerId

Int16Array = npt.NDArray[np.int16]


class BlockSource(Protocol):
    """Something that plays: read ``n`` samples at a time until ``finished``."""

    @property
    def finished(self) -> bool: ...

    def read(self, n: int) -> Int16Array: ...


class ToneSource(Protocol):
    """Call-progress tones by name ("dial", "stutter_dial", "ringback", "busy", "reorder", ...)."""

    def tone(self, name: str) -> BlockSource: ...


class DigitDetector(Protocol):
    """DTMF: feed mouthpiece audio, get keys that went down in it."""

    def feed(self, samples: Int16Array) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class Polarity:
    """Set the line's feed polarity: the SLIC's forward/reverse output while it is not ringing."""

    reversed: bool


Segment = Int16Array | Polarity  # a caller-ID / message-waiting transmission: audio and polarity changes


class CallerIdEncoder(Protocol):
    """Caller-ID and message-waiting signals for the handset (Bell 202 / V.23 FSK, by implementation),
    as segments the controller carries out in order: audio plays to the earpiece, a :class:`Polarity`
    switches the line's polarity when the audio before it has finished.

    ``timing`` says where a call's burst goes: "after-first-ring" (US Bell 202, ETSI RP-AS) or
    "before-first-ring" (BT SIN227, ETSI DT-AS). The controller keeps the timing around a call's burst
    (the wait after the first ring, the guard before the next); a message-waiting transmission is whole."""

    timing: Literal["after-first-ring", "before-first-ring"]

    def encode(self, info: CallerId, rate: int) -> Sequence[Segment]: ...

    def encode_mwi(self, active: bool, rate: int) -> Sequence[Segment]: ...


class ArraySource:
    """Plays a fixed array once (caller-ID bursts, prompts)."""

    def __init__(self, samples: Int16Array) -> None:
        self._x = np.asarray(samples, dtype=np.int16)
        self._pos = 0

    @property
    def finished(self) -> bool:
        return self._pos >= len(self._x)

    def read(self, n: int) -> Int16Array:
        out = np.zeros(n, dtype=np.int16)
        part = self._x[self._pos:self._pos + n]
        out[:len(part)] = part
        self._pos += len(part)
        return out


class PlanTones:
    """ToneSource over a country tone plan of ``firmware.audio.tones``."""

    def __init__(self, country: str, rate: int) -> None:
        from roamline.firmware.audio.tones import load_plan

        self.plan = load_plan(country)
        self.rate = rate

    def tone(self, name: str) -> BlockSource:
        from roamline.firmware.audio.tones import ToneGenerator

        return ToneGenerator(self.plan.tone(name), self.rate)


class DtmfDigits:
    """DigitDetector over ``firmware.audio.dtmf`` (which works at 8 kHz: other rates are resampled)."""

    def __init__(self, rate: int) -> None:
        from roamline.firmware.audio.dtmf import DtmfDetector

        self.rate = rate
        self._det = DtmfDetector()
        self._rs: Any = None
        if rate != 8000:
            from roamline.firmware.audio.resample import StreamResampler

            self._rs = StreamResampler(rate, 8000)

    def feed(self, samples: Int16Array) -> list[str]:
        from roamline.firmware.audio.dtmf import DigitStarted

        x = samples if self._rs is None else self._rs.process(samples)
        return [e.digit for e in self._det.feed(x) if isinstance(e, DigitStarted)]


class FskCallerId:
    """CallerIdEncoder over ``firmware.audio.callerid_plan``: the country's FSK burst (Bell 202 MDMF in the
    US, V.23 ETSI in the UK and Germany) with its alert tone where the plan has one. The controller
    keeps the timing around it (the wait after the first ring, the guard before the next)."""

    def __init__(self, country: str) -> None:
        from roamline.firmware.audio import callerid_plan

        self.plan = callerid_plan.profile(country)
        self.timing: Literal["after-first-ring", "before-first-ring"] = (
            "before-first-ring" if self.plan.before_first_ring else "after-first-ring")

    def encode(self, info: CallerId, rate: int) -> tuple[Segment, ...]:
        from roamline.firmware.audio import callerid_plan as cp

        steps = [s for s in cp.plan_call(self.plan, info) if not isinstance(s, cp.RingBurst)]
        if not self.plan.before_first_ring and steps and isinstance(steps[0], cp.Wait):
            steps = steps[1:]  # the controller waits after the first ring itself
        while steps and isinstance(steps[-1], cp.Wait):
            steps = steps[:-1]  # and keeps the guard before the next ring
        return _segments(steps, rate)

    def encode_mwi(self, active: bool, rate: int) -> tuple[Segment, ...]:
        from roamline.firmware.audio import callerid_plan as cp
        from roamline.firmware.callerid import codec as cm

        return _segments(list(cp.plan_message_waiting(self.plan, cm.MessageWaiting(active))), rate)


def _segments(steps: list[Any], rate: int) -> tuple[Segment, ...]:
    """callerid_plan steps as segments: consecutive audio steps rendered as one array, reversals kept."""
    from roamline.firmware.audio import callerid_plan as cp

    out: list[Segment] = []
    audio: list[cp.Step] = []

    def flush() -> None:
        if audio:
            x = cp.render_all(tuple(audio), rate)
            out.append(np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16))
            audio.clear()

    for s in steps:
        if isinstance(s, cp.LineReversal):
            flush()
            out.append(Polarity(reversed=not s.restore))
        elif not isinstance(s, cp.RingBurst):
            audio.append(s)
    flush()
    return tuple(out)
