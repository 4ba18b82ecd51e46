"""PyAudio (PortAudio) backend: blocking input and output streams, mono int16 at the configured rate.

Devices are chosen by index or by a part of their name (``input_device = "USB"``); None is the system
default. PyAudio is imported on open, so configurations that never use it do not need it installed.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import numpy.typing as npt

from roamline.firmware.audio.device import AudioConfig, AudioDevice, Int16Array, as_samples
from roamline.firmware.audio.errors import AudioDeviceError, AudioUsageError

log = logging.getLogger(__name__)


def _find(pa: Any, want: str | int | None, direction: str) -> int | None:
    if want is None or isinstance(want, int):
        return want
    key = "maxInputChannels" if direction == "input" else "maxOutputChannels"
    names = []
    for i in range(pa.get_device_count()):
        info = pa.get_device_info_by_index(i)
        names.append(str(info["name"]))
        if want.lower() in str(info["name"]).lower() and int(info[key]) > 0:
            return i
    raise AudioUsageError(f"no {direction} audio device matching {want!r} (have: {', '.join(names)})")


class PyAudioDevice(AudioDevice):
    def __init__(self, config: AudioConfig) -> None:
        self.config = config
        self.rate = config.rate
        self._pa: Any = None
        self._in: Any = None
        self._out: Any = None

    @property
    def is_open(self) -> bool:
        return self._pa is not None

    def open(self) -> None:
        if self._pa is not None:
            return
        try:
            import pyaudio
        except ImportError:
            raise AudioUsageError("the pyaudio backend needs pyaudio (portaudio19-dev + pip)") from None
        pa = pyaudio.PyAudio()
        try:
            common = {"rate": self.rate, "channels": 1, "format": pyaudio.paInt16,
                      "frames_per_buffer": self.config.block}
            self._in = pa.open(input=True, input_device_index=_find(pa, self.config.input_device, "input"),
                               **common)
            self._out = pa.open(output=True,
                                output_device_index=_find(pa, self.config.output_device, "output"), **common)
        except OSError as exc:
            self._close_streams()
            pa.terminate()
            raise AudioDeviceError(f"cannot open audio device: {exc}") from None
        except BaseException:
            self._close_streams()
            pa.terminate()
            raise
        self._pa = pa
        log.info("audio-open", extra={"fields": {"rate": self.rate, "block": self.config.block}})

    def _close_streams(self) -> None:
        for s in (self._in, self._out):
            if s is not None:
                try:
                    s.stop_stream()
                    s.close()
                except OSError:
                    pass
        self._in = self._out = None

    def close(self) -> None:
        if self._pa is None:
            return
        self._close_streams()
        self._pa.terminate()
        self._pa = None

    def read(self, n: int) -> Int16Array:
        self._check_open()
        try:
            data = self._in.read(n, exception_on_overflow=False)
        except OSError as exc:
            raise AudioDeviceError(f"audio input failed: {exc}") from None
        return np.frombuffer(data, dtype=np.int16).copy()

    def write(self, samples: npt.ArrayLike) -> None:
        self._check_open()
        try:
            self._out.write(as_samples(samples).tobytes())
        except OSError as exc:
            raise AudioDeviceError(f"audio output failed: {exc}") from None
