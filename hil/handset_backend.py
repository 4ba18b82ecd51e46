"""The simulated handset backend: a box process's handset is a phone on mock pins with a control socket.

Registered by ``hil/`` as ``sim`` in the entry-point group ``roamline.backends.handset`` (the sim board
profile names it), so a box gets it without production code importing ``hil/``. It gives the box's
runtime what a real handset backend gives it (``firmware.backends.HandsetPorts``): a gpiozero pin
factory on which the firmware makes the SLIC's pins, and the handset's audio device at 8 kHz. Behind
them sits a ``hil.handset_phone.Phone`` that ``roamline hil handset …`` (or ``HandsetClient``) drives
through the control socket.

Options (``[handset] options`` in the box config, strings): ``control`` — the control socket's path
(default ``DATA_DIR/handset.sock``); ``seed`` — contact-chatter seed (``none``: clean contacts).
Constructing does no I/O; ``open`` starts the phone's hook timer and the control socket, ``close`` stops
them (both idempotent). Open before the firmware claims the pins; close after it released them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from roamline.board.profile import BoardProfile as Profile
from roamline.firmware.audio.device import AudioDevice
from roamline.firmware.audio.device_rate import at_rate
from roamline.firmware.handset.audio import WORK_RATE
from roamline.hil.errors import UsageError
from roamline.hil.handset_control import HandsetControlServer
from roamline.hil.handset_phone import Phone

if TYPE_CHECKING:
    from roamline.firmware.backends import BackendContext

NAME = "sim"
OPTIONS = ("control", "seed")


class SimHandsetBackend:
    """A phone on the profile's SLIC pins, its audio line, and (with ``control``) its control socket."""

    name = NAME

    def __init__(self, profile: Profile, *, control: str | Path | None = None, seed: int | None = 1,
                 country: str = "US") -> None:
        self.phone = Phone(profile, seed=seed, country=country)
        self.control = HandsetControlServer(self.phone, control) if control is not None else None
        self._audio = at_rate(self.phone.audio, WORK_RATE)

    @property
    def pin_factory(self) -> Any:
        return self.phone.factory

    @property
    def audio(self) -> AudioDevice:
        """The box's end of the phone's audio line, seen at 8 kHz (paced on the real clock)."""
        return self._audio

    def open(self) -> None:
        self.phone.open()
        self._audio.open()
        if self.control is not None:
            self.control.open()

    def close(self) -> None:
        if self.control is not None:
            self.control.close()
        self._audio.close()
        self.phone.close()

    def __enter__(self) -> SimHandsetBackend:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sim_handset(ctx: BackendContext) -> SimHandsetBackend:
    """The ``roamline.backends.handset`` factory: the box's board profile, country and options."""
    opts = dict(ctx.options("handset"))
    unknown = set(opts) - set(OPTIONS)
    if unknown:
        raise UsageError(f"handset options: sim knows {', '.join(OPTIONS)}, not {', '.join(sorted(unknown))}")
    control = opts.get("control") or str(Path(ctx.config.data_dir) / "handset.sock")
    seed_s = opts.get("seed", "1")
    try:
        seed = None if seed_s.lower() == "none" else int(seed_s)
    except ValueError:
        raise UsageError(f"handset options: seed is a number or 'none', not {seed_s!r}") from None
    return SimHandsetBackend(ctx.board, control=control, seed=seed, country=ctx.config.country)
