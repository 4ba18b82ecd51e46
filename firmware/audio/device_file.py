"""File backend: the microphone plays a WAV file, the earpiece is recorded to a WAV file on close."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

from roamline.firmware.audio.device import AudioDevice, Int16Array, as_samples
from roamline.firmware.audio.errors import AudioDeviceError, AudioUsageError
from roamline.firmware.audio.resample import resample


def read_wav(path: Path, rate: int) -> Int16Array:
    """A 16-bit WAV (any rate; first channel) as int16 at ``rate``."""
    try:
        with wave.open(str(path), "rb") as w:
            if w.getsampwidth() != 2:
                raise AudioUsageError(f"{path}: only 16-bit PCM WAV is supported")
            data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)
            channels, file_rate = w.getnchannels(), w.getframerate()
    except (OSError, EOFError, wave.Error) as exc:
        raise AudioDeviceError(f"{path}: cannot read WAV: {exc}") from None
    if channels > 1:
        data = data.reshape(-1, channels)[:, 0].copy()
    return resample(data, file_rate, rate)


def write_wav(path: Path, samples: Int16Array, rate: int) -> None:
    try:
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(samples.astype("<i2").tobytes())
    except OSError as exc:
        raise AudioDeviceError(f"{path}: cannot write WAV: {exc}") from None


class FileDevice(AudioDevice):
    """Not paced: reads return at once. After the input's end, reads return silence (``exhausted``)."""

    def __init__(self, rate: int, input_path: Path | None, output_path: Path | None) -> None:
        self.rate = rate
        self.input_path, self.output_path = input_path, output_path
        self._input: Int16Array = np.zeros(0, np.int16)
        self._pos = 0
        self._out: list[Int16Array] = []
        self._open = False

    @property
    def is_open(self) -> bool:
        return self._open

    @property
    def exhausted(self) -> bool:
        return self._pos >= len(self._input)

    def open(self) -> None:
        if self._open:
            return
        self._input = read_wav(self.input_path, self.rate) if self.input_path else np.zeros(0, np.int16)
        self._pos, self._out, self._open = 0, [], True

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        if self.output_path is not None:
            write_wav(self.output_path, self.recorded(), self.rate)

    def recorded(self) -> Int16Array:
        """Everything written so far."""
        return np.concatenate(self._out) if self._out else np.zeros(0, np.int16)

    def read(self, n: int) -> Int16Array:
        self._check_open()
        chunk = self._input[self._pos : self._pos + n]
        self._pos += n
        if len(chunk) < n:
            chunk = np.concatenate([chunk, np.zeros(n - len(chunk), np.int16)])
        return chunk.copy()

    def write(self, samples: npt.ArrayLike) -> None:
        self._check_open()
        self._out.append(as_samples(samples).copy())
