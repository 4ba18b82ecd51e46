"""Peripheral backends, chosen by name and found through entry points (the way gpiozero finds pin
factories).

The board profile's ``[backends]`` table names one backend per peripheral kind (``line``, ``handset``,
``card``); a box configuration may override a name or turn a peripheral off (``"none"``). Each name is an
entry point in the group ``roamline.backends.<kind>`` whose object is a *factory*: called with a
:class:`BackendContext`, it returns an object of the kind's Protocol below, not yet opened (constructing
does no I/O). The product registers the real backends (``serial``, ``gpio``, ``pcsc``, in pyproject.toml);
``hil`` registers simulated ones (e.g. a handset on mock pins with a control socket), so production code
never imports ``hil``.

Threads: the runtime drives a line port and a handset runner from threads it owns (their bridges); a
backend must not start threads of its own in its constructor, only in ``open`` (and stop them in
``close``). ``open``/``close`` are idempotent.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any, Literal, Protocol

from roamline.firmware.errors import UsageError

if TYPE_CHECKING:
    from roamline.board.profile import BoardProfile
    from roamline.firmware.audio.device import AudioDevice
    from roamline.firmware.card.pcsc import PcscBackend
    from roamline.firmware.config import BoxConfig
    from roamline.firmware.line import events as line_events
    from roamline.firmware.line.modem_profiles import ModemProfile
    from roamline.firmware.line.session import LineSession
    from roamline.wire.clock import Clock

Kind = Literal["line", "handset", "card"]
KINDS: tuple[Kind, ...] = ("line", "handset", "card")
GROUP = "roamline.backends.{kind}"
NONE = "none"  # a box config's way of saying "this box has no such peripheral"


@dataclass(frozen=True, slots=True)
class BackendContext:
    """What a backend factory may use: the box configuration, the board profile and the clock."""

    config: BoxConfig
    board: BoardProfile
    clock: Clock

    def options(self, kind: Kind) -> Mapping[str, str]:
        """Backend-specific options from the box config (``[handset] options = {...}`` etc.)."""
        section = getattr(self.config, kind)
        return dict(section.options)


class LinePort(Protocol):
    """A phone line (V.253 voice modem) as the line bridge drives it, from its own thread: blocking
    helpers that pump until their operation finishes, and ``pump`` for everything else.
    ``firmware.line.serial_line.SerialLine`` is the real one."""

    session: LineSession  # the sans-I/O line core: state, can_bridge, caller_id, encoding

    @property
    def is_open(self) -> bool: ...
    def fileno(self) -> int | None: ...  # to wait for input together with a wake-up (None: cannot)
    def open(self) -> None: ...
    def close(self) -> None: ...
    def kick(self, settle: float = 0.2) -> None: ...
    def identify(self) -> ModemProfile | None: ...
    def initialise(self, reset: bool = True) -> None: ...
    def pump(self, timeout: float = 0.02) -> list[line_events.LineEvent]: ...
    def check(self) -> list[line_events.LineEvent]: ...
    def answer(self) -> None: ...
    def dial(self, number: str) -> None: ...
    def flash(self) -> None: ...
    def transmit(self) -> None: ...  # half duplex: the call's stream to +VTX / back to +VRX
    def receive(self) -> None: ...
    def hangup(self) -> None: ...
    def send_voice(self, data: bytes) -> None: ...


class HandsetPorts(Protocol):
    """What the handset runner is built on: a gpiozero pin factory on which the firmware makes the SLIC's
    pins (numbers from the board profile) and the handset's audio device at 8 kHz (``None``: no audio).
    A simulated backend holds the other side: it drives the hook pin of its (mock) factory, watches the
    ring outputs, and owns the far end of the audio."""

    @property
    def pin_factory(self) -> Any: ...
    @property
    def audio(self) -> AudioDevice | None: ...
    def open(self) -> None: ...
    def close(self) -> None: ...


LineFactory = Callable[[BackendContext], LinePort]
HandsetFactory = Callable[[BackendContext], HandsetPorts]
CardFactory = Callable[[BackendContext], "PcscBackend"]


@functools.cache
def _registered() -> dict[str, tuple[EntryPoint, ...]]:
    """Every ``roamline.backends.*`` entry point, by group, from one scan of the installed packages
    (each ``entry_points()`` call reads every distribution's metadata: ~0.2 s on a loaded machine, and a
    box asks once per kind at every start). What is installed does not change while a process runs."""
    prefix = GROUP.format(kind="")
    found = entry_points()
    return {g: tuple(found.select(group=g)) for g in found.groups if g.startswith(prefix)}


def _group(kind: str) -> tuple[EntryPoint, ...]:
    return _registered().get(GROUP.format(kind=kind), ())


def available(kind: Kind) -> list[str]:
    return sorted(ep.name for ep in _group(kind))


def factory(kind: Kind, name: str) -> Callable[[BackendContext], Any]:
    """The factory registered as ``name`` for ``kind``; UsageError naming what exists if none is."""
    if kind not in KINDS:
        raise UsageError(f"no peripheral kind {kind!r} (have {', '.join(KINDS)})")
    eps = {ep.name: ep for ep in _group(kind)}
    if name not in eps:
        have = ", ".join(sorted(eps)) or "none installed"
        raise UsageError(f"no {kind} backend {name!r} (entry points in {GROUP.format(kind=kind)}: {have})")
    obj = eps[name].load()
    if not callable(obj):
        raise UsageError(f"{kind} backend {name!r} ({eps[name].value}) is not a factory")
    return obj  # type: ignore[no-any-return]


def chosen(kind: Kind, config: BoxConfig, board: BoardProfile) -> str:
    """The backend name for ``kind``: the box config's when it names one, else the board profile's."""
    name = getattr(config, kind).backend
    return str(getattr(board.backends, kind) if name == "board" else name)


# -- the product's real backends (registered in pyproject.toml) -------------------------------------------

def serial_line(ctx: BackendContext) -> LinePort:
    """A voice modem on a serial device (``[line] device``); profile by name, or identified ("auto")."""
    from roamline.firmware.line.modem_profiles import by_name
    from roamline.firmware.line.serial_line import SerialLine

    cfg = ctx.config.line
    if not cfg.device:
        raise UsageError("line.device: the serial line backend needs a device (e.g. /dev/ttyACM0)")
    name = ctx.board.modem.profile if cfg.profile == "board" else cfg.profile
    profile = None if name == "auto" else by_name(name)
    return SerialLine(cfg.device, profile=profile, clock=ctx.clock)


@dataclass(slots=True)
class GpioHandset:
    """The real handset: the board's SLIC on the profile's gpiozero pin factory, and its audio device."""

    pin_factory: Any
    audio: AudioDevice | None

    def open(self) -> None:
        if self.audio is not None:
            self.audio.open()

    def close(self) -> None:
        if self.audio is not None:
            self.audio.close()


def gpio_handset(ctx: BackendContext) -> HandsetPorts:
    from roamline.board.gpio import pin_factory
    from roamline.firmware.handset.audio import handset_device

    try:
        pins = pin_factory(ctx.board.pin_factory)
    except Exception as exc:  # board's PeerError/UsageError: report in the firmware's terms
        raise UsageError(f"handset: {exc}") from None
    return GpioHandset(pin_factory=pins, audio=handset_device(ctx.board.handset_audio, clock=ctx.clock))


def pyscard_card(ctx: BackendContext) -> PcscBackend:
    from roamline.firmware.card.pcsc import PyscardBackend

    return PyscardBackend()
