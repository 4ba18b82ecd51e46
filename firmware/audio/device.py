"""The audio-device interface and its configuration.

Style: blocking pull/push. ``read(n)`` returns exactly ``n`` mono int16 samples at ``rate`` (waiting for
them if the backend is real-time); ``write(samples)`` queues mono int16 samples for playback. The
handset's audio loop reads one 20 ms block, processes it and writes one block, so a callback style
would add nothing but threads. ``open()`` and ``close()`` are explicit and idempotent; constructors do
no I/O; a device is also a context manager.

Backends, chosen by configuration (``backend = "pyaudio" | "file" | "loopback"``):

- ``pyaudio``: a real sound device through PortAudio (the handset's USB codec; ALSA or PulseAudio).
- ``file``: the microphone is a WAV file (silence after its end), the earpiece a WAV file written on close.
- ``loopback``: an in-memory line with two ends (``device.peer`` is the other end, e.g. a simulated
  phone); optionally paced on a clock so reads take real (or virtual) time.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import numpy as np
import numpy.typing as npt
from msgspec import Meta

from roamline.firmware.audio.errors import AudioUsageError
from roamline.wire.config import Frozen, load_toml

if TYPE_CHECKING:
    from roamline.wire.clock import Clock

Int16Array = npt.NDArray[np.int16]


class AudioConfig(Frozen, frozen=True, kw_only=True):
    backend: Literal["pyaudio", "file", "loopback"]
    rate: Annotated[int, Meta(ge=8000, le=96000)] = 8000
    block: Annotated[int, Meta(ge=16, le=8192)] = 160  # samples per device buffer (pyaudio)
    input_device: str | int | None = None  # pyaudio: index or part of the device name
    output_device: str | int | None = None
    input_path: Path | None = None  # file: WAV played into the microphone
    output_path: Path | None = None  # file: WAV recorded from the earpiece
    paced: bool = False  # loopback: reads wait for the clock
    capacity_s: Annotated[float, Meta(gt=0, le=60)] = 2.0  # loopback: per-direction buffer


def as_samples(samples: npt.ArrayLike) -> Int16Array:
    a = np.asarray(samples)
    if a.dtype != np.int16:
        raise AudioUsageError(f"audio devices take int16 samples, not {a.dtype}")
    return a.reshape(-1)


class AudioDevice(abc.ABC):
    """Mono int16 audio in and out at :attr:`rate` samples per second."""

    rate: int

    @property
    @abc.abstractmethod
    def is_open(self) -> bool: ...

    @abc.abstractmethod
    def open(self) -> None:
        """Acquire the device; a second call does nothing."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the device; a second call does nothing."""

    @abc.abstractmethod
    def read(self, n: int) -> Int16Array:
        """Exactly ``n`` samples from the microphone side."""

    @abc.abstractmethod
    def write(self, samples: npt.ArrayLike) -> None:
        """Queue int16 samples for the earpiece side."""

    def _check_open(self) -> None:
        if not self.is_open:
            raise AudioUsageError(f"{type(self).__name__} is not open")

    def __enter__(self) -> AudioDevice:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_device(config: AudioConfig, *, clock: Clock | None = None) -> AudioDevice:
    """The backend ``config`` names (not opened). ``clock`` paces a loopback device."""
    if config.backend == "pyaudio":
        from roamline.firmware.audio.device_pyaudio import PyAudioDevice

        return PyAudioDevice(config)
    if config.backend == "file":
        from roamline.firmware.audio.device_file import FileDevice

        return FileDevice(config.rate, config.input_path, config.output_path)
    from roamline.firmware.audio.device_loopback import LoopbackLine

    line = LoopbackLine(config.rate, capacity_s=config.capacity_s, clock=clock if config.paced else None)
    return line.a


def load_config(path: str | Path) -> AudioConfig:
    return load_toml(AudioConfig, path)
