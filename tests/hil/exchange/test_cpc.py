"""Calling-party control in the exchange simulator: after the callee (a modem line) hangs up on a caller
who has not, the exchange keeps the call — and the line — for the hold time. Going off hook again
re-answers (no dial tone, so a dial gets NO DIALTONE); the hold runs from the first hang-up; the caller
hanging up releases it at once. Over the modem's pty, time-scaled."""

from __future__ import annotations

import pytest

from roamline.hil.errors import UsageError
from roamline.hil.exchange.core import Exchange
from roamline.hil.exchange.runner import ExchangeRunner
from roamline.hil.exchange.testing import Dte

LINE, PHONE, PSAP = "5551000", "5552000", "911"


def voice_line(dte: Dte) -> None:
    dte.cmd("ATE0")
    dte.cmd("AT+FCLASS=8")


def answered(runner: ExchangeRunner, dte: Dte, phone, cpc_s: float | None = None) -> None:
    voice_line(dte)
    phone.dial(LINE, cpc_s=cpc_s)
    dte.read_until(b"RING\r\n")
    dte.cmd("AT+VLS=1")
    assert runner.wait_for(lambda: phone.state == "connected")


def test_the_line_stays_held_for_the_caller_then_dials_out(runner: ExchangeRunner, dte_factory) -> None:
    runner.exchange.calling_party_control_s = 8.0  # simulated seconds (the runner is time-scaled)
    runner.add_line(LINE, "cx93001")
    phone = runner.add_phone(PHONE, answer_after=None)
    runner.add_phone(PSAP, answer_after=1)
    runner.start()
    dte = dte_factory(LINE)
    answered(runner, dte, phone)
    t0 = runner.sim_now()
    dte.cmd("ATH")
    assert runner.wait_for(lambda: phone.state == "cpc")  # the caller still holds the call
    assert "far_hangup" not in phone.kinds()  # and hears nothing of the hang-up yet
    dte.cmd("ATDT911", final=b"NO DIALTONE\r\n", timeout=5)  # off hook: back to the caller, no dial tone
    assert runner.wait_for(lambda: phone.state in ("connected", "cpc"))
    assert not any(c.callee is not None and c.callee.number == PSAP for c in runner.exchange.calls)
    assert runner.wait_for(lambda: phone.state == "ended", timeout=10)  # the hold ran out
    assert runner.sim_now() - t0 >= 8.0
    assert "far_hangup" in phone.kinds()
    dte.cmd("ATDT911", timeout=5)  # the line is free: dial tone, the call goes out
    assert runner.wait_for(lambda: any(c.callee is not None and c.callee.number == PSAP
                                       and c.state == "connected" for c in runner.exchange.calls))


def test_the_caller_hanging_up_releases_the_line_at_once(runner: ExchangeRunner, dte_factory) -> None:
    runner.add_line(LINE, "cx93001")
    phone = runner.add_phone(PHONE, answer_after=None)
    runner.start()
    dte = dte_factory(LINE)
    answered(runner, dte, phone, cpc_s=600.0)  # per call: this caller's exchange holds for ten minutes
    dte.cmd("ATH")
    assert runner.wait_for(lambda: phone.state == "cpc")
    phone.hang_up()
    line = runner.exchange.lines[LINE]
    assert runner.wait_for(lambda: line.call is None)


def test_without_calling_party_control_a_hang_up_releases_at_once(runner: ExchangeRunner,
                                                                  dte_factory) -> None:
    runner.add_line(LINE, "cx93001")
    phone = runner.add_phone(PHONE, answer_after=None)
    runner.start()
    dte = dte_factory(LINE)
    answered(runner, dte, phone)
    dte.cmd("ATH")
    assert runner.wait_for(lambda: "far_hangup" in phone.kinds())
    assert runner.exchange.lines[LINE].call is None


def test_the_hold_is_bounded() -> None:
    with pytest.raises(UsageError):
        Exchange(calling_party_control_s=-1)
    with pytest.raises(UsageError):
        Exchange(calling_party_control_s=601)
