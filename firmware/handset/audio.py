"""The handset's audio device from the board profile, adapted to the controller's 8 kHz.

The profile's ``handset_audio.device`` names the backend: ``loopback`` (or ``loopback:``) for an in-memory
line whose other end a simulated phone holds, ``file:DIR`` for ``DIR/mouthpiece.wav`` in and
``DIR/earpiece.wav`` out, anything else a sound device by (part of) its name through pyaudio. The device
runs at the profile's rate (48 kHz for a USB codec); :func:`handset_device` wraps it in a resampler so
the controller, DTMF detector, tone and caller-ID generators all work at the call path's 8 kHz.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from roamline.board.profile import HandsetAudio
from roamline.firmware.audio.device import AudioConfig, AudioDevice, make_device
from roamline.firmware.audio.device_rate import at_rate

if TYPE_CHECKING:
    from roamline.wire.clock import Clock

WORK_RATE = 8000  # the controller's rate: G.711, DTMF, echo cancellation and tones all run at 8 kHz
BLOCK_S = 0.020  # one audio block (device buffer and controller block)


def audio_config(audio: HandsetAudio, *, paced: bool = False) -> AudioConfig:
    """The firmware.audio configuration the profile's handset audio names (``paced``: loopback only)."""
    dev, rate = audio.device, audio.rate
    block = round(rate * BLOCK_S)
    if dev in ("loopback", "loopback:"):
        return AudioConfig(backend="loopback", rate=rate, block=block, paced=paced)
    if dev.startswith("file:"):
        d = Path(dev.removeprefix("file:"))
        mouth = d / "mouthpiece.wav"
        return AudioConfig(backend="file", rate=rate, block=block,
                           input_path=mouth if mouth.is_file() else None, output_path=d / "earpiece.wav")
    return AudioConfig(backend="pyaudio", rate=rate, block=block, input_device=dev, output_device=dev)


def handset_device(audio: HandsetAudio, *, clock: Clock | None = None, paced: bool = False,
                   rate: int = WORK_RATE) -> AudioDevice:
    """The handset's audio device (not opened), seen at ``rate``; ``clock`` paces a loopback."""
    return at_rate(make_device(audio_config(audio, paced=paced), clock=clock), rate)
