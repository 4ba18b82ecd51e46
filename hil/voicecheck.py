"""Voice both ways, checked by content, between any two ends of a call on a rig.

An *end* is something that can say audio into a call and listen to what comes out of it: the simulated
handset attached to a box (:class:`HandsetEnd`, through its control socket) or a PSTN phone on the
exchange (:class:`PstnEnd`, through the exchange's control socket). :func:`verify` sends a probe (a
tone, DTMF digits or spoken digits, see ``hil.content``) in at one end while the other listens, and
returns the :class:`~roamline.hil.content.MediaCheck` (whose ``event()`` is the demo's
``media.verified`` line).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from roamline.firmware.audio.device_file import read_wav, write_wav
from roamline.hil import content
from roamline.hil.content import Int16Array, MediaCheck
from roamline.hil.errors import UsageError
from roamline.hil.handset import dtmf_audio
from roamline.hil.handset_control import HandsetClient
from roamline.hil.handset_phone import tone_audio

RATE = 8000  # probes are made and checked at the call path's rate


class End(Protocol):
    name: str

    def say(self, samples: Int16Array) -> None:
        """Start saying 8 kHz samples into the call (returns at once)."""

    def listen_start(self) -> None: ...

    def listen_stop(self) -> Int16Array:
        """What came out of the call at this end since ``listen_start``, at 8 kHz."""


class HandsetEnd:
    """The simulated phone attached to a box."""

    def __init__(self, client: HandsetClient, name: str = "handset", workdir: Path | None = None) -> None:
        self.client, self.name = client, name
        self.dir = workdir or Path(tempfile.mkdtemp(prefix="rl-voice-"))
        self._n = 0

    def _wav(self, what: str) -> Path:
        self._n += 1
        return self.dir / f"{self.name}-{what}-{self._n}.wav"

    def say(self, samples: Int16Array) -> None:
        path = self._wav("say")
        write_wav(path, samples, RATE)
        self.client.play(path, wait=False)

    def listen_start(self) -> None:
        self.client.record_start()

    def listen_stop(self) -> Int16Array:
        path = self._wav("heard")
        self.client.record_stop(path)
        return read_wav(path, RATE)  # resampled from the handset's device rate


class PstnEnd:
    """A PSTN phone on the exchange (``hil.rigrun.PstnPhone``)."""

    def __init__(self, phone: Any, name: str | None = None, workdir: Path | None = None) -> None:
        self.phone = phone
        self.name = name or f"pstn {phone.number}"
        self.dir = workdir or Path(tempfile.mkdtemp(prefix="rl-voice-"))
        self._mark = 0
        self._n = 0

    def _heard(self) -> Int16Array:
        self._n += 1
        path = self.dir / f"pstn-{self.phone.number}-{self._n}.wav"
        self.phone.record(path)
        return read_wav(path, RATE)

    def say(self, samples: Int16Array) -> None:
        self._n += 1
        path = self.dir / f"pstn-{self.phone.number}-say-{self._n}.wav"
        write_wav(path, samples, RATE)
        self.phone.play(path)

    def listen_start(self) -> None:
        self._mark = len(self._heard())

    def listen_stop(self) -> Int16Array:
        return self._heard()[self._mark:]


def greeting() -> Int16Array:
    """What a called party says on answering ("hello, Dave's pizza"): espeak-ng speech, or a voice-band
    tone pair where espeak-ng is missing. A modem in voice mode infers an answer from voice on the line."""
    from roamline.hil import speech

    if speech.available():
        return speech.speak("Hello, Dave's pizza.", rate=RATE)
    return tone_audio((440.0, 880.0), 1500, RATE, level_dbfs=-12.0)


@dataclass(frozen=True)
class Probe:
    """What to send: ``kind`` "tone" (``hz``), "dtmf" or "speech" (``digits``)."""

    kind: str
    hz: float = 1004.0
    digits: str = ""
    seconds: float = 1.0  # tone length

    def audio(self) -> Int16Array:
        if self.kind == "tone":
            return tone_audio((self.hz,), self.seconds * 1000, RATE, level_dbfs=-10.0)
        if self.kind == "dtmf":
            return dtmf_audio(self.digits, RATE, on_ms=100, off_ms=100)
        if self.kind == "speech":
            return content.spoken_digits(self.digits, RATE)
        raise UsageError(f"no probe kind {self.kind!r} (tone, dtmf, speech)")

    def check(self, sent: Int16Array, heard: Int16Array) -> MediaCheck:
        if self.kind == "tone":
            return content.check_tone(heard, RATE, self.hz, min_s=min(0.5, self.seconds * 0.6))
        if self.kind == "dtmf":
            return content.check_dtmf(heard, RATE, self.digits)
        return content.check_speech(sent, heard, RATE, label=f"spoken {self.digits}")


def verify(sender: End, receiver: End, probe: Probe, settle_s: float = 0.6) -> MediaCheck:
    """Say ``probe`` at ``sender`` while ``receiver`` listens; the check of what it heard. Real time:
    takes the probe's length plus ``settle_s`` (the call path's delay and jitter buffers)."""
    sent = probe.audio()
    receiver.listen_start()
    sender.say(sent)
    time.sleep(len(sent) / RATE + settle_s)
    heard = receiver.listen_stop()
    check = probe.check(sent, heard)
    return MediaCheck(check.kind, check.expected, check.found, check.ok,
                      {**check.detail, "from": sender.name, "to": receiver.name})

