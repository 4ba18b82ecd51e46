"""Visual message waiting to the handset without ringing, the stutter dial tone while messages wait, and
the UK sequences' line polarity reversal on the SLIC's F/R pin: all measured at the simulated phone
(earpiece audio decoded by minimodem and by our receiver; recorded pin states)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from roamline.firmware.callerid import codec as cm
from roamline.firmware.handset.events import (
    CallerIdSent,
    Digit,
    MessageWaitingSent,
    OffHook,
    OnHook,
    RingDone,
)
from roamline.firmware.handset.ports import FskCallerId
from roamline.hil.handset import HandsetSim

from .conftest import MODEMS, loud_span, minimodem_messages, needs_minimodem, our_messages, tone_runs


def mwi_sim(country: str, rate: int = 8000, **kw: Any) -> HandsetSim:
    return HandsetSim(caller_id=FskCallerId(country), country=country.upper(), rate=rate, **kw)


def sent(sim: HandsetSim) -> list[bool]:
    return [e.active for e in sim.events if isinstance(e, MessageWaitingSent)]


@needs_minimodem
@pytest.mark.parametrize("country", ["us", "uk", "de"])
@pytest.mark.parametrize("rate", [8000, 48000])
def test_vmwi_on_and_off_reach_the_earpiece_without_ringing(country: str, rate: int) -> None:
    with mwi_sim(country, rate) as sim:
        sim.run_for(0.2)
        for active in (True, False):
            sim.clear_earpiece()
            sim.runner.message_waiting(active)
            sim.run_for(2.5)
            ear = sim.earpiece()
            want = cm.MessageWaiting(active)
            assert minimodem_messages(ear, rate, MODEMS[country]) == [want]
            assert [m for _, m in our_messages(ear, rate, MODEMS[country])] == [want]
        assert sent(sim) == [True, False]
        assert sim.ring_history() == []  # not a ring, not even the ring-mode pin
        assert not sim.controller.ringing


def test_uk_vmwi_reverses_the_line_around_the_data() -> None:
    """BT SIN 227: reversal, ≥ 100 ms, tone alert, data, ≥ 200 ms, polarity restored."""
    with mwi_sim("uk") as sim:
        sim.run_for(0.2)
        sim.clear_earpiece()
        sim.runner.message_waiting(True)
        sim.run_for(2.5)
        rev = sim.reverse_history()
        assert [on for _, on in rev] == [True, False]
        first, last = loud_span(sim)
        assert first - rev[0][0] >= 0.100
        assert rev[1][0] - last >= 0.200
        assert rev[1][0] - rev[0][0] < 1.5


def test_uk_caller_id_reversal_precedes_the_data_and_ringing_takes_the_pin_over() -> None:
    with mwi_sim("uk") as sim:
        start = sim.now
        sim.clear_earpiece()
        sim.runner.ring("uk", cycles=1, caller_id=cm.CallerId("01632960001", when=cm.Stamp(1, 2, 3, 4)))
        sim.run_for(5.0)
        rev = sim.reverse_history()
        ring_on = next(t for t, on in sim.ring_history() if on)
        assert rev[0] == (start, True)  # reversed at once, before anything is heard
        msgs = our_messages(sim.earpiece(), sim.rate, MODEMS["uk"])
        assert len(msgs) == 1 and isinstance(msgs[0][1], cm.CallerId) and msgs[0][1].number == "01632960001"
        first, last = loud_span(sim, threshold=300)
        assert first - start >= 0.100  # the tone alert comes ≥ 100 ms after the reversal
        assert all(on for t, on in rev if t < ring_on)  # reversed until ringing takes F/R over
        assert ring_on - last >= 0.200
        toggles = [t for t, _ in rev if ring_on <= t < ring_on + 0.4]
        assert len(toggles) >= 14  # ringing at 20 Hz on the same pin
        assert any(isinstance(e, RingDone) for e in sim.events)
        assert not sim.controller.reverse  # forward again after ringing


@needs_minimodem
@pytest.mark.parametrize("country", ["us", "uk", "de"])
def test_caller_id_through_the_handset_decodes_with_minimodem(country: str) -> None:
    with mwi_sim(country, 48000) as sim:
        cid = cm.CallerId("5551234", "ADA", when=cm.Stamp(6, 7, 8, 9))
        sim.runner.ring(country, cycles=2, caller_id=cid)
        sim.run_for(7.0)
        got = minimodem_messages(sim.earpiece(), sim.rate, MODEMS[country])
        assert len(got) == 1 and isinstance(got[0], cm.CallerId)
        assert got[0].number == "5551234" and got[0].name == "ADA" and got[0].when == cm.Stamp(6, 7, 8, 9)
        assert any(isinstance(e, CallerIdSent) for e in sim.events)


def test_stutter_dial_tone_on_lift_while_messages_wait_then_steady_again() -> None:
    with mwi_sim("us", 48000, dial_tone=True) as sim:
        sim.runner.message_waiting(True)
        sim.run_for(2.0)
        assert sent(sim) == [True]
        sim.lift()
        sim.run_for(0.1)
        sim.clear_earpiece()
        sim.run_for(3.0)
        runs = tone_runs(sim.earpiece(), sim.rate, (350.0, 440.0))
        assert len(runs) >= 18 and all(abs(r - 100) <= 5 for r in runs[:18])  # US stutter: 100/100 ms
        sim.hang_up()
        sim.run_for(1.0)
        sim.runner.message_waiting(False)
        sim.run_for(3.0)
        assert sent(sim) == [True, False]
        sim.lift()
        sim.run_for(0.1)
        sim.clear_earpiece()
        sim.run_for(1.5)
        assert len(tone_runs(sim.earpiece(), sim.rate, (350.0, 440.0))) <= 1  # steady: no gaps
        assert np.sqrt(np.mean(sim.earpiece().astype(float) ** 2)) > 300


def test_dial_tone_stops_at_the_first_digit() -> None:
    with mwi_sim("us", dial_tone=True) as sim:
        sim.lift()
        sim.run_for(0.5)
        end = sim.key_dtmf("4")
        sim.run_until(end + 0.1)
        sim.clear_earpiece()
        sim.run_for(0.5)
        assert [e.digit for e in sim.events if isinstance(e, Digit)] == ["4"]
        assert not np.any(sim.earpiece())


def test_an_answered_call_gets_no_dial_tone() -> None:
    with mwi_sim("us", dial_tone=True) as sim:
        sim.runner.ring("us")
        sim.run_for(0.5)
        sim.lift()
        sim.run_for(0.3)
        sim.clear_earpiece()
        sim.run_for(0.5)
        assert any(isinstance(e, OffHook) and e.answered for e in sim.events)
        assert not np.any(sim.earpiece())


def test_vmwi_waits_for_hang_up_and_an_idle_line() -> None:
    with mwi_sim("us") as sim:
        sim.lift()
        sim.run_for(0.5)
        sim.runner.message_waiting(True)
        sim.run_for(3.0)
        assert sent(sim) == []  # never while off-hook
        sim.hang_up()
        sim.run_for(3.0)
        on_hook = next(e for e in sim.events if isinstance(e, OnHook))
        mwi = next(e for e in sim.events if isinstance(e, MessageWaitingSent))
        assert mwi.active and mwi.at - on_hook.at >= 0.8 + 0.5  # reported hang-up, then idle


def test_ringing_interrupts_vmwi_which_is_sent_again_afterwards() -> None:
    with mwi_sim("us") as sim:
        sim.runner.message_waiting(True)
        sim.run_for(0.2)  # the burst is under way
        sim.runner.ring("us", cycles=1)
        sim.run_for(2.0)
        assert sent(sim) == []
        sim.clear_earpiece()
        sim.run_for(6.0)
        done = next(e for e in sim.events if isinstance(e, RingDone))
        mwi = [e for e in sim.events if isinstance(e, MessageWaitingSent)]
        assert len(mwi) == 1 and mwi[0].at >= done.at + 0.5
        assert [m for _, m in our_messages(sim.earpiece(), sim.rate, MODEMS["us"])] == \
            [cm.MessageWaiting(True)]


def test_lifting_during_vmwi_cuts_it_and_it_is_repeated_after_hang_up() -> None:
    with mwi_sim("uk") as sim:
        sim.runner.message_waiting(True)
        sim.run_for(0.3)
        assert sim.controller.reverse
        sim.lift()
        sim.run_for(0.5)
        assert not sim.controller.reverse and sent(sim) == []
        sim.hang_up()
        sim.run_for(4.0)
        assert sent(sim) == [True] and not sim.controller.reverse
        assert [on for _, on in sim.reverse_history()] == [True, False, True, False]


def test_without_an_encoder_message_waiting_only_changes_the_dial_tone() -> None:
    with HandsetSim(dial_tone=True) as sim:
        sim.runner.message_waiting(True)
        sim.run_for(1.0)
        assert sent(sim) == [] and sim.controller.messages_waiting
        sim.lift()
        sim.run_for(0.1)
        sim.clear_earpiece()
        sim.run_for(1.0)
        assert len(tone_runs(sim.earpiece(), sim.rate, (350.0, 440.0))) >= 8
