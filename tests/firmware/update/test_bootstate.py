"""The A/B boot-state core: its state table, and that no sequence of events leaves the box unbootable."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.firmware.update.bootstate import (
    BootState,
    Event,
    FileBootState,
    IllegalTransition,
    SlotState,
    begin_install,
    boot,
    finish_install,
    mark,
    step,
)


def test_a_healthy_update_becomes_primary() -> None:
    s = boot(BootState())
    assert s.booted == "a"
    s, slot = begin_install(s)
    assert slot == "b" and s.slots["b"] is SlotState.INSTALLING
    assert boot(s).booted == "a"  # an unfinished install never boots
    s = finish_install(s, "b", "2.0")
    s = boot(s)
    assert (s.booted, s.slots["b"]) == ("b", SlotState.TRYING) and s.primary == "a"
    s = mark(s, healthy=True)
    assert (s.primary, s.slots["b"]) == ("b", SlotState.GOOD)
    assert boot(s).booted == "b"


@pytest.mark.parametrize("how", ["unhealthy", "rebooted-untested"])
def test_a_failing_update_rolls_back(how: str) -> None:
    s, _ = begin_install(boot(BootState()))
    s = boot(finish_install(s, "b", "2.0"))
    if how == "unhealthy":
        s = mark(s, healthy=False)
    s = boot(s)  # the box boots again: the trial slot did not become healthy
    assert (s.booted, s.primary, s.slots["b"]) == ("a", "a", SlotState.BAD)


def test_illegal_transitions_raise() -> None:
    with pytest.raises(IllegalTransition):
        step(SlotState.EMPTY, Event.BOOT)
    with pytest.raises(IllegalTransition):
        step(SlotState.GOOD, Event.INSTALL_DONE)
    s, _ = begin_install(boot(BootState()))
    s = boot(finish_install(s, "b", "2.0"))
    with pytest.raises(IllegalTransition):  # no install while the running slot is on trial
        begin_install(s)


EVENTS = ["install-begin", "install-done", "boot", "healthy", "unhealthy"]
OPS = st.lists(st.sampled_from(EVENTS), max_size=40)


@settings(max_examples=400)
@given(OPS)
def test_any_sequence_keeps_a_good_primary(ops: list[str]) -> None:
    s = BootState()
    installing: str | None = None
    for op in ops:
        try:
            if op == "install-begin":
                s, installing = begin_install(s)
            elif op == "install-done" and installing is not None:
                s, installing = finish_install(s, installing, "v"), None
            elif op == "boot":
                s = boot(s)
            elif op in ("healthy", "unhealthy"):
                s = mark(s, op == "healthy")
        except IllegalTransition:
            pass
        assert s.slots[s.primary] is SlotState.GOOD  # the fallback is always there
        if s.booted is not None and s.slots[s.booted] is not SlotState.BAD:
            assert s.slots[s.booted] in (SlotState.GOOD, SlotState.TRYING)  # never runs a half-written slot
        assert boot(s).booted is not None


def test_file_backend_round_trip(tmp_path: object) -> None:
    from pathlib import Path

    store = FileBootState(Path(str(tmp_path)))
    assert store.load() == BootState()
    s, _ = begin_install(boot(BootState()))
    store.save(s)
    assert store.load() == s
    store.path.write_text("{")
    with pytest.raises(Exception, match="not JSON"):
        store.load()
