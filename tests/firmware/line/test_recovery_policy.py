from __future__ import annotations

import pytest

from roamline.firmware.line.calls import CallState, CallStateMachine, Trigger
from roamline.firmware.line.errors import IllegalTransition
from roamline.firmware.line.recovery import Outcome, RecoveryPolicy, Step


def test_reset_then_power_cycle_then_refind() -> None:
    p = RecoveryPolicy(has_power_cycle=True, max_power_cycles=1)
    assert p.report(Outcome.SILENT) is Step.RESET
    assert p.report(Outcome.SILENT) is Step.POWER_CYCLE
    assert p.report(Outcome.DONE) is Step.REFIND
    assert p.report(Outcome.ABSENT) is Step.REFIND
    assert p.report(Outcome.FOUND) is Step.REINIT
    assert p.report(Outcome.SILENT) is Step.REFIND  # power cycles used up: wait for a replug
    with pytest.raises(IllegalTransition):
        p.report(Outcome.DONE)


def test_without_hook_silent_after_reset_waits_for_refind() -> None:
    p = RecoveryPolicy(has_power_cycle=False)
    p.report(Outcome.SILENT)
    assert p.report(Outcome.SILENT) is Step.REFIND


def test_call_table_modem_lost_from_anywhere() -> None:
    for state in CallState:
        m = CallStateMachine()
        m.state = state
        assert m.fire(Trigger.MODEM_LOST) is CallState.OUT_OF_SERVICE
    m = CallStateMachine()
    with pytest.raises(IllegalTransition):
        m.fire(Trigger.ANSWERED)
