"""An audio device seen at another rate: the handset's USB codec (48 kHz, 44.1 kHz …) as an 8 kHz device.

Reads pull as many device samples as the wanted output needs and resample them down (any surplus output
is held for the next read, so ``read(n)`` stays exact at non-integer ratios such as 44.1 k ⇄ 8 k); writes
are resampled up and passed on. Both directions use :class:`StreamResampler`, so block edges make no
clicks and a paced device stays paced. Each direction adds the resampler's delay (about 2 ms).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from roamline.firmware.audio.device import AudioDevice, Int16Array, as_samples
from roamline.firmware.audio.errors import AudioUsageError
from roamline.firmware.audio.resample import StreamResampler


class RateAdapter(AudioDevice):
    """``device`` at ``rate``. Opening and closing pass through to the wrapped device."""

    def __init__(self, device: AudioDevice, rate: int) -> None:
        if rate <= 0:
            raise AudioUsageError(f"rate must be positive, not {rate}")
        self.device = device
        self.rate = rate
        self._reset()

    def _reset(self) -> None:
        self._down = StreamResampler(self.device.rate, self.rate)
        self._up = StreamResampler(self.rate, self.device.rate)
        self._held: Int16Array = np.zeros(0, np.int16)

    @property
    def is_open(self) -> bool:
        return self.device.is_open

    def open(self) -> None:
        if not self.device.is_open:
            self._reset()
        self.device.open()

    def close(self) -> None:
        self.device.close()

    def read(self, n: int) -> Int16Array:
        self._check_open()
        if n < 0:
            raise AudioUsageError("cannot read a negative number of samples")
        while len(self._held) < n:
            # ceil(missing · in/out) device samples always yield at least the missing outputs
            k = math.ceil((n - len(self._held)) * self.device.rate / self.rate)
            self._held = np.concatenate([self._held, self._down.process(self.device.read(k))])
        out, self._held = self._held[:n], self._held[n:]
        return out

    def write(self, samples: npt.ArrayLike) -> None:
        self._check_open()
        self.device.write(self._up.process(as_samples(samples)))


def at_rate(device: AudioDevice, rate: int) -> AudioDevice:
    """``device`` itself if it already runs at ``rate``, else a :class:`RateAdapter` over it."""
    return device if device.rate == rate else RateAdapter(device, rate)
