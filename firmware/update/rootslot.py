"""Whole-root A/B updates: the root-slot state machine (sans-I/O). Which root partition (slot A = 2,
B = 3, docs/image.md) the boot loader boots, which one is on its one-shot trial, which are good.

Unlike the application slots (``bootstate``), the choice at boot is not made here: the boot loader makes
it (the Pi firmware's ``tryboot``, or the initrd's flag file: ``bootloader``) and this core *observes*
what it did (``Booted``: the slot that runs, and whether this is its trial boot). Everything the boot
loader must be told comes out as actions (``ArmTrial``, ``Commit``, ``Disarm``); callers perform them.

Each slot is in one state; events move it along an explicit table (illegal moves raise)::

    empty|good|bad|installing|pending|armed --install-begin--> installing  (being written: never booted)
    installing --install-done--> pending     (written and read back against the signed digest)
    pending --arm--> armed                    (the boot loader will try it once, on the next boot)
    armed --boot-trial--> trying              (this is its one trial boot)
    armed --boot-other--> bad                 (the trial never reached the system: the boot loader fell back)
    pending --boot-other--> pending           (power lost before arming: arm it again)
    trying --healthy--> good                  (committed: the boot loader's default from now on)
    trying --unhealthy--> bad                 (the next boot is the committed slot's)
    trying --boot-other--> bad                (rebooted without a verdict: rolled back)

The committed slot is always ``good`` and only a slot that booted on trial and passed its health check
replaces it; a one-shot trial means a crash, a hang (watchdog, power cycle) or a failed check all end on
the committed slot.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from roamline.firmware.errors import PeerError, UsageError

ROOT_SLOTS = ("A", "B")


class RootSlotState(StrEnum):
    EMPTY = "empty"
    INSTALLING = "installing"
    PENDING = "pending"
    ARMED = "armed"
    TRYING = "trying"
    GOOD = "good"
    BAD = "bad"


class RootEvent(StrEnum):
    INSTALL_BEGIN = "install-begin"
    INSTALL_DONE = "install-done"
    ARM = "arm"
    BOOT_TRIAL = "boot-trial"
    BOOT_OTHER = "boot-other"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


S, E = RootSlotState, RootEvent
TRANSITIONS: dict[tuple[RootSlotState, RootEvent], RootSlotState] = {
    **{(s, E.INSTALL_BEGIN): S.INSTALLING
       for s in (S.EMPTY, S.GOOD, S.BAD, S.INSTALLING, S.PENDING, S.ARMED)},
    (S.INSTALLING, E.INSTALL_DONE): S.PENDING,
    (S.PENDING, E.ARM): S.ARMED,
    (S.ARMED, E.BOOT_TRIAL): S.TRYING,
    (S.ARMED, E.BOOT_OTHER): S.BAD,
    (S.PENDING, E.BOOT_OTHER): S.PENDING,
    (S.INSTALLING, E.BOOT_OTHER): S.INSTALLING,
    (S.EMPTY, E.BOOT_OTHER): S.EMPTY,
    (S.GOOD, E.BOOT_OTHER): S.GOOD,
    (S.BAD, E.BOOT_OTHER): S.BAD,
    (S.TRYING, E.BOOT_OTHER): S.BAD,
    (S.TRYING, E.HEALTHY): S.GOOD,
    (S.TRYING, E.UNHEALTHY): S.BAD,
}


class IllegalRootTransition(UsageError):
    pass


def step(state: RootSlotState, event: RootEvent) -> RootSlotState:
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalRootTransition(f"root slot in state {state} cannot take {event}") from None


def other(slot: str) -> str:
    return "B" if slot == "A" else "A"


# -- what the boot loader reports, and what it must be told ------------------------------------------

@dataclass(frozen=True, slots=True)
class Booted:
    """What the boot loader did this boot: the root slot running, and whether it is a one-shot trial."""
    slot: str
    trial: bool

    def __post_init__(self) -> None:
        if self.slot not in ROOT_SLOTS:
            raise UsageError(f"root slots are A and B, not {self.slot!r}")


@dataclass(frozen=True, slots=True)
class ArmTrial:
    """Next boot only: boot ``slot`` (Pi: tryboot.txt + ``reboot "0 tryboot"``; initrd: the flag file)."""
    slot: str


@dataclass(frozen=True, slots=True)
class Commit:
    """Make ``slot`` the boot loader's default (Pi: tryboot.txt becomes config.txt)."""
    slot: str


@dataclass(frozen=True, slots=True)
class Disarm:
    """Forget an armed trial that will not (or did not) happen."""


Action = ArmTrial | Commit | Disarm


@dataclass(frozen=True, slots=True)
class RootState:
    committed: str = "A"
    slots: dict[str, RootSlotState] = field(
        default_factory=lambda: {"A": RootSlotState.GOOD, "B": RootSlotState.EMPTY})
    versions: dict[str, str] = field(default_factory=dict)
    booted: str | None = None  # the slot running now, as last observed (None before a boot was seen)

    def __post_init__(self) -> None:
        if self.committed not in ROOT_SLOTS or (self.booted is not None and self.booted not in ROOT_SLOTS):
            raise UsageError("root slots are 'A' and 'B'")
        if set(self.slots) != set(ROOT_SLOTS):
            raise UsageError("root state must name both slots")

    @property
    def running(self) -> str:
        return self.booted or self.committed

    def _with(self, slot: str, new: RootSlotState, **changes: object) -> RootState:
        return replace(self, slots={**self.slots, slot: new}, **changes)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, object]:
        return {"committed": self.committed, "booted": self.booted,
                "slots": {k: str(v) for k, v in self.slots.items()}, "versions": dict(self.versions)}

    @classmethod
    def from_json(cls, body: object) -> RootState:
        try:
            assert isinstance(body, dict)
            slots = {str(k): RootSlotState(v) for k, v in dict(body["slots"]).items()}
            versions = {str(k): str(v) for k, v in dict(body.get("versions", {})).items()}
            booted = body.get("booted")
            return cls(str(body["committed"]), slots, versions, None if booted is None else str(booted))
        except (AssertionError, KeyError, ValueError, TypeError, UsageError) as exc:
            raise PeerError(f"root state does not parse: {exc}") from None


def begin_install(state: RootState) -> tuple[RootState, str, tuple[Action, ...]]:
    """Start writing the slot that is neither committed nor running: the new state, the slot, and the
    actions to perform *before* writing (an armed trial of that slot is forgotten first)."""
    slot = other(state.committed)
    if state.slots[state.running] is RootSlotState.TRYING:
        raise IllegalRootTransition(f"root slot {state.running} is still on trial: its health check first")
    if state.running == slot:
        raise IllegalRootTransition(f"root slot {slot} runs but is not committed: reboot (roll back) first")
    actions: tuple[Action, ...] = (Disarm(),) if state.slots[slot] is RootSlotState.ARMED else ()
    versions = {k: v for k, v in state.versions.items() if k != slot}
    new = state._with(slot, step(state.slots[slot], RootEvent.INSTALL_BEGIN), versions=versions)
    return new, slot, actions


def finish_install(state: RootState, slot: str, version: str) -> RootState:
    return state._with(slot, step(state.slots[slot], RootEvent.INSTALL_DONE),
                       versions={**state.versions, slot: version})


def arm(state: RootState, slot: str) -> tuple[RootState, tuple[Action, ...]]:
    """A written slot gets its one trial on the next boot."""
    return state._with(slot, step(state.slots[slot], RootEvent.ARM)), (ArmTrial(slot),)


def observe_boot(state: RootState, booted: Booted) -> tuple[RootState, tuple[Action, ...]]:
    """What the boot loader did: the booted slot's trial begins, and any slot that was armed or on trial
    and is not running now has lost its chance (marked bad; its armed trial forgotten)."""
    actions: list[Action] = []
    for slot in ROOT_SLOTS:
        if slot == booted.slot:
            continue
        if state.slots[slot] in (RootSlotState.ARMED, RootSlotState.TRYING):
            actions.append(Disarm())  # its trial is over: nothing of it is left for the boot loader
        state = state._with(slot, step(state.slots[slot], RootEvent.BOOT_OTHER))
    mine = state.slots[booted.slot]
    if booted.trial and mine is RootSlotState.ARMED:
        state = state._with(booted.slot, step(mine, RootEvent.BOOT_TRIAL))
    elif mine is not RootSlotState.GOOD and (booted.trial or mine in (S.TRYING, S.ARMED)):
        # a slot still on trial booted again, armed but booted without the trial flag, or a trial of a
        # slot this state never armed: no second try, and never taken for a good one (the boot loader's
        # next boot is the committed slot's)
        state = state._with(booted.slot, RootSlotState.BAD)
        actions.append(Disarm())
    elif mine is not RootSlotState.GOOD:
        # the boot loader runs a slot that was never written or verified: nothing here changes that,
        # but it must not be taken for a good one (the lifeline still runs: callers only report this)
        raise PeerError(f"the boot loader booted root slot {booted.slot}, which is {mine}")
    return replace(state, booted=booted.slot), tuple(actions)


def health(state: RootState, healthy: bool) -> tuple[RootState, tuple[Action, ...]]:
    """The running slot's health check: a healthy trial is committed; an unhealthy one is marked bad (the
    next boot is the committed slot's, the one-shot trial being spent)."""
    slot = state.running
    if state.slots[slot] is not RootSlotState.TRYING:
        return state, ()
    new = step(RootSlotState.TRYING, RootEvent.HEALTHY if healthy else RootEvent.UNHEALTHY)
    if healthy:
        return state._with(slot, new, committed=slot), (Commit(slot),)
    return state._with(slot, new), (Disarm(),)


def reconcile(state: RootState, loader_committed: str) -> RootState:
    """The boot loader's default is what boots: a commit recorded here but not yet written to the boot
    loader (power lost between the two) is undone, a good slot the loader commits is adopted."""
    if loader_committed == state.committed or state.slots[loader_committed] is not RootSlotState.GOOD:
        return state
    return replace(state, committed=loader_committed)


def on_trial(state: RootState) -> bool:
    return state.slots[state.running] is RootSlotState.TRYING
