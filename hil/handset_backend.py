"""The simulated handset backend: a box process's handset is a phone on mock pins with a control socket.

Registered by ``hil/`` under the entry-point group ``roamline.backends.handset`` as ``sim``, so a box
whose configuration names the ``sim`` handset backend gets this without production code importing
``hil/``. The backend gives the box what a real handset backend gives it — a gpiozero pin factory for
the SLIC's pins and an audio device at the profile's handset rate — and, behind them, a
``hil.handset_phone.Phone`` that ``roamline hil handset …`` (or ``HandsetClient``) drives through the
control socket.

Interface (what the box's runtime calls; see the box's backend protocol in ``firmware/``):
``SimHandsetBackend(profile, control=PATH, seed=1, country="US")``, ``open()``, ``close()``,
``pin_factory()``, ``audio_device()``. Constructing it does no I/O; ``open`` starts the phone's hook
timer and the control socket, ``close`` stops them (both idempotent). Open it before the box claims the
pins and close it after the box released them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from roamline.board.profile import Profile
from roamline.firmware.audio.device import AudioDevice
from roamline.hil.handset_control import HandsetControlServer
from roamline.hil.handset_phone import Phone

NAME = "sim"


class SimHandsetBackend:
    name = NAME

    def __init__(self, profile: Profile, *, control: str | Path | None = None, seed: int | None = 1,
                 country: str = "US", **_ignored: Any) -> None:
        self.phone = Phone(profile, seed=seed, country=country)
        self.control = HandsetControlServer(self.phone, control) if control is not None else None

    def pin_factory(self) -> Any:
        return self.phone.factory

    def audio_device(self) -> AudioDevice:
        """The box's end of the phone's audio line, at the profile's handset rate (paced)."""
        return self.phone.audio

    def open(self) -> None:
        self.phone.open()
        if self.control is not None:
            self.control.open()

    def close(self) -> None:
        if self.control is not None:
            self.control.close()
        self.phone.close()

    def __enter__(self) -> SimHandsetBackend:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
