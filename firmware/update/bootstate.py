"""A/B boot state: which root/application slot boots, which is on trial, which are good. Sans-I/O core and
a file-backed backend (what CI uses; on a Pi the same state lives where the boot loader reads it).

Each slot ("a", "b") is in one state; events move it along an explicit table (illegal moves raise)::

    empty|good|bad|installing --install-begin--> installing     (writing: never bootable)
    installing --install-done--> pending                        (switch on next reboot, one try)
    pending --boot--> trying                                     (the one trial boot)
    trying --healthy--> good        (becomes the primary: the switch is permanent)
    trying --unhealthy--> bad       (next boot rolls back to the primary)
    trying --boot--> bad            (rebooted without being marked healthy: rolled back)

``boot(state)`` is the boot loader's decision: a pending slot gets its one trial boot, a slot still on
trial when the box boots again is marked bad, and otherwise the primary boots. Power lost at any point
leaves either the old primary or a trial that rolls back: the primary is only replaced by a slot that
booted and passed its health check.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from roamline.firmware.errors import PeerError, UsageError

SLOTS = ("a", "b")


class SlotState(StrEnum):
    EMPTY = "empty"
    INSTALLING = "installing"
    PENDING = "pending"
    TRYING = "trying"
    GOOD = "good"
    BAD = "bad"


class Event(StrEnum):
    INSTALL_BEGIN = "install-begin"
    INSTALL_DONE = "install-done"
    BOOT = "boot"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


S, E = SlotState, Event
TRANSITIONS: dict[tuple[SlotState, Event], SlotState] = {
    (S.EMPTY, E.INSTALL_BEGIN): S.INSTALLING,
    (S.GOOD, E.INSTALL_BEGIN): S.INSTALLING,
    (S.BAD, E.INSTALL_BEGIN): S.INSTALLING,
    (S.INSTALLING, E.INSTALL_BEGIN): S.INSTALLING,  # an interrupted install started again
    (S.PENDING, E.INSTALL_BEGIN): S.INSTALLING,  # a newer bundle replaces one not yet booted
    (S.INSTALLING, E.INSTALL_DONE): S.PENDING,
    (S.PENDING, E.BOOT): S.TRYING,
    (S.TRYING, E.HEALTHY): S.GOOD,
    (S.TRYING, E.UNHEALTHY): S.BAD,
    (S.TRYING, E.BOOT): S.BAD,
}


class IllegalTransition(UsageError):
    pass


def step(state: SlotState, event: Event) -> SlotState:
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransition(f"slot in state {state} cannot take {event}") from None


@dataclass(frozen=True, slots=True)
class BootState:
    primary: str = "a"
    booted: str | None = None  # the slot running now (None before the first boot)
    slots: dict[str, SlotState] = field(default_factory=lambda: {"a": SlotState.GOOD, "b": SlotState.EMPTY})
    versions: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.primary not in SLOTS or (self.booted is not None and self.booted not in SLOTS):
            raise UsageError("slots are 'a' and 'b'")
        if set(self.slots) != set(SLOTS):
            raise UsageError("boot state must name both slots")

    @property
    def running(self) -> str:
        return self.booted or self.primary

    def _with(self, slot: str, new: SlotState, **changes: object) -> BootState:
        return replace(self, slots={**self.slots, slot: new}, **changes)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, object]:
        slots = {k: str(v) for k, v in self.slots.items()}
        return {"primary": self.primary, "booted": self.booted, "slots": slots,
                "versions": dict(self.versions)}

    @classmethod
    def from_json(cls, body: object) -> BootState:
        try:
            assert isinstance(body, dict)
            slots = {str(k): SlotState(v) for k, v in dict(body["slots"]).items()}
            versions = {str(k): str(v) for k, v in dict(body.get("versions", {})).items()}
            booted = body.get("booted")
            return cls(str(body["primary"]), None if booted is None else str(booted), slots, versions)
        except (AssertionError, KeyError, ValueError, TypeError, UsageError) as exc:
            raise PeerError(f"boot state does not parse: {exc}") from None


def other(slot: str) -> str:
    return "b" if slot == "a" else "a"


def begin_install(state: BootState) -> tuple[BootState, str]:
    """Start writing the inactive slot; returns the new state and the slot."""
    slot = other(state.primary)  # never the primary: it is the fallback until a new slot proves healthy
    if state.slots[state.running] is SlotState.TRYING:
        raise IllegalTransition("the running slot is still on trial: mark it healthy (or not) first")
    if state.booted == slot:
        raise IllegalTransition(f"slot {slot} is running but is not the primary: reboot (roll back) first")
    versions = {k: v for k, v in state.versions.items() if k != slot}
    return state._with(slot, step(state.slots[slot], Event.INSTALL_BEGIN), versions=versions), slot


def finish_install(state: BootState, slot: str, version: str) -> BootState:
    versions = {**state.versions, slot: version}
    return state._with(slot, step(state.slots[slot], Event.INSTALL_DONE), versions=versions)


def boot(state: BootState) -> BootState:
    """The boot loader: which slot boots now (``.booted`` of the result)."""
    for slot in SLOTS:
        if state.slots[slot] is SlotState.TRYING:  # booted on trial and never marked healthy: roll back
            state = state._with(slot, step(SlotState.TRYING, Event.BOOT))
    for slot in SLOTS:
        if state.slots[slot] is SlotState.PENDING:
            return state._with(slot, step(SlotState.PENDING, Event.BOOT), booted=slot)
    if state.slots[state.primary] is not SlotState.GOOD:
        raise PeerError(f"no bootable slot (primary {state.primary} is {state.slots[state.primary]})")
    return replace(state, booted=state.primary)


def mark(state: BootState, healthy: bool) -> BootState:
    """The running slot's health check result: a healthy trial becomes the primary."""
    slot = state.running
    if state.slots[slot] is not SlotState.TRYING:
        return state  # a good slot stays good; nothing is on trial
    new = step(SlotState.TRYING, Event.HEALTHY if healthy else Event.UNHEALTHY)
    return state._with(slot, new, primary=slot if healthy else state.primary)


class FileBootState:
    """The boot state as JSON in ``DIR/bootstate.json`` (written atomically: tmp, fsync, rename, fsync dir),
    the slots as ``DIR/slots/a`` and ``DIR/slots/b``, the trusted operator key as ``DIR/operator.pem``."""

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)
        self.path = self.dir / "bootstate.json"

    def slot_dir(self, slot: str) -> Path:
        if slot not in SLOTS:
            raise UsageError(f"no slot {slot!r}")
        return self.dir / "slots" / slot

    def load(self) -> BootState:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return BootState()
        except OSError as exc:
            raise PeerError(f"{self.path}: {exc.strerror or exc}") from None
        try:
            return BootState.from_json(json.loads(raw))
        except ValueError:
            raise PeerError(f"{self.path}: not JSON") from None

    def save(self, state: BootState) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(state.to_json(), f, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.path)
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
