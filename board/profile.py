"""Board profiles: TOML data validated on load into frozen dataclasses (stdlib only: board/ may not
import wire's pydantic loader). Every problem is a UsageError with one line naming file and field.

A profile names the Pi model and GPIO pin factory, the SLIC and its pins, the hook timing windows,
the handset's audio device, the modem and the USB hub port that power-cycles it, the card readers
(and so the card slots), the GPS source and the status LED pins.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar

from roamline.board.core.hook import HookTiming
from roamline.board.errors import UsageError

PROFILE_DIR = Path(__file__).with_name("profiles")
GPIO_PINS = range(28)  # BCM numbers on the 40-pin header

# Which gpiozero pin factories suit which board: lgpio is the only one that works on a Pi 5.
FACTORIES_FOR_MODEL = {"pi3": ("lgpio", "rpigpio"), "pi4": ("lgpio", "rpigpio"), "pi5": ("lgpio",),
                       "sim": ("mock",)}

Level = Literal["high", "low"]


@dataclasses.dataclass(frozen=True, slots=True)
class Slic:
    type: Literal["ag1171"]
    hook_pin: int
    hook_off_level: Level  # the input level while the handset is off-hook
    ring_mode_pin: int
    ring_mode_active: Level
    forward_reverse_pin: int
    reverse_level: Level  # the F/R output level that reverses polarity
    ring_hz: Literal[20, 25]


@dataclasses.dataclass(frozen=True, slots=True)
class Hook:
    settle_ms: int = 10
    flash_min_ms: int = 100
    flash_max_ms: int = 800
    pulse_dial: bool = True
    pulse_break_min_ms: int = 25
    pulse_break_max_ms: int = 95
    interdigit_ms: int = 200

    def timing(self) -> HookTiming:
        return HookTiming(self.settle_ms, self.flash_min_ms, self.flash_max_ms, self.pulse_dial,
                          self.pulse_break_min_ms, self.pulse_break_max_ms, self.interdigit_ms)


@dataclasses.dataclass(frozen=True, slots=True)
class HandsetAudio:
    device: str  # audio device name (substring match) or backend URL such as "loopback:" / "file:DIR"
    rate: Literal[8000, 16000, 44100, 48000]


@dataclasses.dataclass(frozen=True, slots=True)
class Modem:
    usb: str  # "vvvv:pppp"
    profile: str  # modem profile name (firmware/line)


@dataclasses.dataclass(frozen=True, slots=True)
class ModemPower:
    hub: str  # USB hub location as uhubctl names it, e.g. "1-1"
    port: int


@dataclasses.dataclass(frozen=True, slots=True)
class CardReader:
    match: str  # substring of the PC/SC reader name
    slots: int = 1


@dataclasses.dataclass(frozen=True, slots=True)
class Gps:
    gpsd: str | None = None  # "host:port"
    serial: str | None = None  # device path
    baud: int = 9600


@dataclasses.dataclass(frozen=True, slots=True)
class StatusLed:
    green_pin: int
    red_pin: int | None = None
    active: Level = "high"


@dataclasses.dataclass(frozen=True, slots=True)
class Backends:
    """Which backend drives each peripheral kind, by entry-point name (firmware finds them in the
    ``roamline.backends.<kind>`` groups): the product registers the real ones, ``hil`` the simulated."""

    line: str = "serial"  # a V.253 modem on a serial port (a modem simulator's pty is one too)
    handset: str = "gpio"  # SLIC on gpiozero pins + the handset audio device
    card: str = "pcsc"  # PC/SC readers through pyscard (a virtual card behind pcscd is one too)
    # whole-root A/B updates (firmware/update/bootloader.py): the Pi firmware's one-shot tryboot, or the
    # initrd's flag file on the boot partition (machines without the Pi firmware: qemu's virt)
    bootloader: Literal["tryboot", "initrd-flag"] = "tryboot"


@dataclasses.dataclass(frozen=True, slots=True)
class BoardProfile:
    name: str
    pi_model: Literal["pi3", "pi4", "pi5", "sim"]
    pin_factory: Literal["lgpio", "rpigpio", "mock"]
    slic: Slic
    handset_audio: HandsetAudio
    modem: Modem
    modem_power: ModemPower
    card_readers: tuple[CardReader, ...]
    gps: Gps
    status_led: StatusLed
    hook: Hook = Hook()
    backends: Backends = Backends()

    @property
    def card_slots(self) -> int:
        return sum(r.slots for r in self.card_readers)

    @property
    def hook_timing(self) -> HookTiming:
        return self.hook.timing()


T = TypeVar("T")


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _build(tp, value, where)
    if origin is Literal:
        if value not in typing.get_args(tp) or isinstance(value, bool):
            allowed = ", ".join(repr(a) for a in typing.get_args(tp))
            raise UsageError(f"{where}: must be one of {allowed}, not {value!r}")
        return value
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(args[0], value, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise UsageError(f"{where}: must be a list")
        (item,) = typing.get_args(tp)[:1]
        return tuple(_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise UsageError(f"{where}: must be true or false")
        return value
    if tp in (int, str):
        if not isinstance(value, tp) or isinstance(value, bool):
            raise UsageError(f"{where}: must be {'an integer' if tp is int else 'a string'}")
        return value
    raise TypeError(f"unsupported field type {tp!r}")  # pragma: no cover - a bug in this module


def _build(cls: type[T], data: Any, where: str) -> T:
    if not isinstance(data, dict):
        raise UsageError(f"{where or '(top)'}: must be a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise UsageError(f"{where + '.' if where else ''}{unknown[0]}: unknown key")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        path = f"{where}.{name}" if where else name
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], path)
        elif f.default is dataclasses.MISSING:
            raise UsageError(f"{path}: missing")
    return cls(**kwargs)


def _check(p: BoardProfile) -> None:
    if p.pin_factory not in FACTORIES_FOR_MODEL[p.pi_model]:
        allowed = " or ".join(FACTORIES_FOR_MODEL[p.pi_model])
        raise UsageError(f"pin_factory: {p.pi_model} needs {allowed}, not {p.pin_factory}")
    pins = {"slic.hook_pin": p.slic.hook_pin, "slic.ring_mode_pin": p.slic.ring_mode_pin,
            "slic.forward_reverse_pin": p.slic.forward_reverse_pin,
            "status_led.green_pin": p.status_led.green_pin}
    if p.status_led.red_pin is not None:
        pins["status_led.red_pin"] = p.status_led.red_pin
    seen: dict[int, str] = {}
    for field, pin in pins.items():
        if pin not in GPIO_PINS:
            raise UsageError(f"{field}: GPIO {pin} is not a header pin (0..27)")
        if pin in seen:
            raise UsageError(f"{field}: GPIO {pin} is already used by {seen[pin]}")
        seen[pin] = field
    if not re.fullmatch(r"[0-9a-f]{4}:[0-9a-f]{4}", p.modem.usb):
        raise UsageError(f"modem.usb: must be vendor:product in hex, like 0baf:0303, not {p.modem.usb!r}")
    if not 1 <= p.modem_power.port <= 16:
        raise UsageError("modem_power.port: must be 1..16")
    if not p.card_readers:
        raise UsageError("card_readers: at least one reader")
    for i, r in enumerate(p.card_readers):
        if not 1 <= r.slots <= 8:
            raise UsageError(f"card_readers[{i}].slots: must be 1..8")
    if (p.gps.gpsd is None) == (p.gps.serial is None):
        raise UsageError("gps: give exactly one of gpsd (host:port) or serial (device path)")
    if p.gps.gpsd is not None and not re.fullmatch(r"[^:\s]+:\d{1,5}", p.gps.gpsd):
        raise UsageError(f"gps.gpsd: must be host:port, not {p.gps.gpsd!r}")
    for kind in ("line", "handset", "card"):
        if not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", getattr(p.backends, kind)):
            raise UsageError(f"backends.{kind}: must be a backend name like 'serial', "
                             f"not {getattr(p.backends, kind)!r}")
    try:
        p.hook.timing()
    except UsageError as exc:
        raise UsageError(f"hook: {exc}") from None


def parse_profile(data: dict[str, Any]) -> BoardProfile:
    profile = _build(BoardProfile, data, "")
    _check(profile)
    return profile


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def load_profile(name_or_path: str | Path) -> BoardProfile:
    """A built-in profile by name ("pi3-ag1171", "pi4-ag1171", "pi5-ag1171", "sim") or a file path."""
    p = Path(name_or_path)
    if p.suffix != ".toml":
        p = PROFILE_DIR / f"{name_or_path}.toml"
        if not p.is_file():
            have = ", ".join(available_profiles())
            raise UsageError(f"no board profile {str(name_or_path)!r} (have {have})")
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{p}: cannot read: {exc}") from None
    return loads_profile(text, str(p))


def loads_profile(text: str, source: str = "<profile>") -> BoardProfile:
    """A board profile from TOML text; any problem is a UsageError naming ``source``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{source}: not valid TOML: {exc}") from None
    try:
        return parse_profile(data)
    except UsageError as exc:
        raise UsageError(f"{source}: {exc}") from None
