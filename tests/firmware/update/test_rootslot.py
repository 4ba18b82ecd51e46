"""The whole-root A/B state machine (sans-I/O): its table, the trial and rollback paths, and that no
sequence of installs, boots (by a one-shot boot loader), crashes and verdicts leaves the box unbootable
or commits a slot that did not pass its health check."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from roamline.firmware.errors import PeerError
from roamline.firmware.update.rootslot import (
    ArmTrial,
    Booted,
    Commit,
    Disarm,
    IllegalRootTransition,
    RootEvent,
    RootSlotState,
    RootState,
    arm,
    begin_install,
    finish_install,
    health,
    observe_boot,
    reconcile,
    step,
)

G, T, B = RootSlotState.GOOD, RootSlotState.TRYING, RootSlotState.BAD


def installed(state: RootState | None = None) -> tuple[RootState, str]:
    s, _ = observe_boot(state or RootState(), Booted("A", trial=False))
    s, slot, first = begin_install(s)
    assert first == ()
    s = finish_install(s, slot, "2.0")
    s, actions = arm(s, slot)
    assert actions == (ArmTrial(slot),)
    return s, slot


def test_a_healthy_root_is_committed() -> None:
    s, slot = installed()
    assert slot == "B" and s.slots["B"] is RootSlotState.ARMED and s.committed == "A"
    s, actions = observe_boot(s, Booted("B", trial=True))
    assert (s.running, s.slots["B"], actions) == ("B", T, ())
    s, actions = health(s, healthy=True)
    assert (s.committed, s.slots["B"], actions) == ("B", G, (Commit("B"),))
    s, actions = observe_boot(s, Booted("B", trial=False))  # the boot loader's default from now on
    assert (s.running, s.slots["B"], actions) == ("B", G, ())
    s, slot, _ = begin_install(s)  # and the next update goes to A
    assert slot == "A"


@pytest.mark.parametrize("how", ["unhealthy", "rebooted-without-verdict", "trial-never-reached-userspace"])
def test_a_failing_root_falls_back_to_the_committed_slot(how: str) -> None:
    s, _ = installed()
    if how == "trial-never-reached-userspace":  # kernel panic / hang: the one-shot flag was spent
        s, actions = observe_boot(s, Booted("A", trial=False))
        assert actions == (Disarm(),)
    else:
        s, _ = observe_boot(s, Booted("B", trial=True))
        if how == "unhealthy":
            s, actions = health(s, healthy=False)
            assert actions == (Disarm(),) and s.slots["B"] is B
        s, actions = observe_boot(s, Booted("A", trial=False))
        assert actions == (() if how == "unhealthy" else (Disarm(),))
    assert (s.running, s.committed, s.slots["A"], s.slots["B"]) == ("A", "A", G, B)
    s, slot, _ = begin_install(s)  # a bad slot is written again by the next update
    assert slot == "B"


def test_power_lost_before_arming_keeps_the_slot_pending() -> None:
    s, _ = observe_boot(RootState(), Booted("A", trial=False))
    s, slot, _ = begin_install(s)
    s2, _ = observe_boot(s, Booted("A", trial=False))  # lost while writing: stays installing, never armed
    assert s2.slots["B"] is RootSlotState.INSTALLING
    s = finish_install(s, slot, "2.0")
    s, _ = observe_boot(s, Booted("A", trial=False))
    assert s.slots["B"] is RootSlotState.PENDING
    s, actions = arm(s, "B")
    assert actions == (ArmTrial("B"),)
    s, slot, first = begin_install(s)  # a newer bundle over an armed one: the trial is forgotten first
    assert (slot, first, s.slots["B"]) == ("B", (Disarm(),), RootSlotState.INSTALLING)


def test_illegal_moves_raise() -> None:
    with pytest.raises(IllegalRootTransition):
        step(RootSlotState.EMPTY, RootEvent.ARM)
    with pytest.raises(IllegalRootTransition):
        step(RootSlotState.INSTALLING, RootEvent.BOOT_TRIAL)
    s, _ = installed()
    s, _ = observe_boot(s, Booted("B", trial=True))
    with pytest.raises(IllegalRootTransition):  # no install while the running root is on trial
        begin_install(s)
    with pytest.raises(PeerError, match="which is empty"):  # a boot loader booting an empty slot
        observe_boot(RootState(), Booted("B", trial=False))


def test_a_commit_the_boot_loader_never_got_is_undone() -> None:
    s, _ = installed()
    s, _ = observe_boot(s, Booted("B", trial=True))
    s, _ = health(s, healthy=True)  # recorded; power lost before config.txt was rewritten
    s = reconcile(s, "A")
    s, _ = observe_boot(s, Booted("A", trial=False))
    assert (s.committed, s.running) == ("A", "A")
    assert reconcile(s, "B").committed == "B"  # a good slot the loader commits is adopted


def test_state_round_trips_through_json() -> None:
    s, _ = installed()
    assert RootState.from_json(s.to_json()) == s
    with pytest.raises(PeerError):
        RootState.from_json({"committed": "C", "slots": {}})


# -- property: a one-shot boot loader, and whatever happens to the box ---------------------------------

OPS = st.lists(st.sampled_from(["install", "crash-install", "arm", "reboot", "crash-trial", "healthy",
                                "unhealthy", "lose-commit"]), max_size=40)


@settings(max_examples=300, deadline=None)
@given(OPS)
@example(["install", "arm", "reboot", "lose-commit", "install"])  # found in CI: the model installed
@example(["install", "arm", "reboot", "lose-commit", "crash-install", "reboot"])  # where the product refuses
def test_no_sequence_commits_an_unchecked_root_or_leaves_no_good_one(ops: list[str]) -> None:
    """The model boot loader: a committed slot, and a one-shot armed trial it spends on the next boot.
    Boots observe it; actions go back to it (the last ``lose-commit`` drops one Commit: power lost)."""
    s, _ = observe_boot(RootState(), Booted("A", trial=False))
    loader_committed, loader_armed = "A", None
    passed: set[tuple[str, str]] = {("A", "factory")}  # (slot, version) that passed a health check
    n = 0

    def tell(actions: tuple[object, ...], lose: bool = False) -> None:
        nonlocal loader_committed, loader_armed
        for a in actions:
            if isinstance(a, ArmTrial):
                loader_armed = a.slot
            elif isinstance(a, Commit) and not lose:
                loader_committed, loader_armed = a.slot, None
            elif isinstance(a, Disarm):
                loader_armed = None

    for op in ops:
        try:
            if op in ("install", "crash-install"):
                if s.committed != loader_committed:  # install_root_bundle refuses: "boot once first"
                    continue
                s, slot, first = begin_install(s)
                tell(first)
                if op == "install":
                    n += 1
                    s = finish_install(s, slot, f"v{n}")
            elif op == "arm":
                pending = [x for x in "AB" if s.slots[x] is RootSlotState.PENDING]
                if pending:
                    s, actions = arm(s, pending[0])
                    tell(actions)
            elif op in ("reboot", "crash-trial"):
                trial, loader_armed = loader_armed, None  # one-shot: spent by this boot, whatever follows
                booted = Booted(trial, True) if trial and op == "reboot" else Booted(loader_committed, False)
                s = reconcile(s, loader_committed)
                s, actions = observe_boot(s, booted)
                tell(actions)
            elif op in ("healthy", "unhealthy", "lose-commit"):
                was = (s.running, s.versions.get(s.running, "factory"))
                trying = s.slots[s.running] is T
                s, actions = health(s, healthy=op != "unhealthy")
                if trying and op != "unhealthy":
                    passed.add(was)
                tell(actions, lose=op == "lose-commit")
        except IllegalRootTransition:
            pass
        assert s.slots[s.committed] is G
        lc = (loader_committed, s.versions.get(loader_committed, "factory"))
        assert s.slots[loader_committed] is G or lc in passed
        assert (s.committed, s.versions.get(s.committed, "factory")) in passed
        # what runs is good, or on its one trial, or failed it (the health unit reboots it next)
        assert s.slots[s.running] in (G, T) or (s.slots[s.running] is B and s.running != s.committed)
        assert loader_armed is None or s.slots[loader_armed] is RootSlotState.ARMED
