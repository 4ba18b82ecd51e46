from __future__ import annotations

import itertools

import pytest

from roamline.board.core import events as ev
from roamline.board.core.cadence import CADENCES, RingSequencer, cadence_named
from roamline.board.errors import UsageError

from .conftest import Rig

# Expected on/off patterns written out here (not read from the table): country practice and GR-506.
EXPECTED = {
    "us": [2000, 4000],
    "uk": [400, 200, 400, 2000],
    "de": [1000, 4000],
    "us-dr1": [2000, 4000],
    "us-dr2": [800, 400, 800, 4000],
    "us-dr3": [400, 200, 400, 200, 800, 4000],
    "us-dr4": [300, 200, 1000, 200, 300, 4000],
}


def ring_mode_periods(pins: list[tuple[int, bool, bool]]) -> list[int]:
    """Durations between ring-mode changes, from the recorded pin states."""
    changes = [pins[0]]
    for p in pins[1:]:
        if p[1] != changes[-1][1]:
            changes.append(p)
    return [b[0] - a[0] for a, b in itertools.pairwise(changes[1:])]


def test_every_named_cadence_is_covered() -> None:
    assert set(CADENCES) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("hz", [20, 25])
def test_cadence_timings_and_ringing_frequency_measured_from_the_pins(name: str, hz: int) -> None:
    rig = Rig(ring_hz=hz)
    rig.ring(cadence_named(name), cycles=3)
    rig.run_until(3 * sum(EXPECTED[name]) + 500)
    assert rig.pins[1][1] is True and rig.pins[1][0] == 0  # first burst at once
    done = rig.kinds(ev.RING_DONE)
    assert len(done) == 1
    # The last silence ends when the sequencer says it is done.
    periods = ring_mode_periods([*rig.pins, (done[0][2], None, False)])  # type: ignore[list-item]
    assert periods == EXPECTED[name] * 3
    # Frequency: reverse toggles during the first burst.
    first_burst_end = EXPECTED[name][0]
    toggles = [p for a, p in zip(rig.pins, rig.pins[1:], strict=False)
               if p[0] < first_burst_end and p[2] != a[2]]
    half = 1000 / hz / 2
    assert len(toggles) >= 2
    gaps = {b[0] - a[0] for a, b in itertools.pairwise(toggles)}
    assert gaps == {half}
    assert not any(p[2] for p in rig.pins if not p[1])  # forward polarity whenever not ringing
    assert done == [(ev.RING_DONE, 3 * len(EXPECTED[name]) // 2, 3 * sum(EXPECTED[name]))]
    assert not rig.core.ringing


def test_burst_and_pause_events_mark_the_caller_id_window() -> None:
    rig = Rig()
    rig.ring(cadence_named("us"))
    rig.run_until(7000)
    assert rig.kinds(ev.RING_BURST, ev.RING_PAUSE) == [
        (ev.RING_BURST, 0, 0), (ev.RING_PAUSE, 0, 2000), (ev.RING_BURST, 1, 6000)]


def test_late_polling_does_not_drift_the_cadence() -> None:
    seq = RingSequencer(20, 0)
    seq.start((400, 200, 400, 2000), 0)
    out: list[tuple[int, int, int]] = []
    for now in range(0, 30000, 37):  # a sloppy poller
        seq.poll(now, out)
    starts = [at for kind, _, at in out if kind == ev.RING_BURST]
    assert starts[:6] == [0, 600, 3000, 3600, 6000, 6600]


@pytest.mark.parametrize("lift_at", [0, 5, 1000, 1999, 2000, 2010, 3000, 6003, 6390])
def test_ring_trip_stops_ringing_within_50ms_of_the_lift_even_mid_burst(lift_at: int) -> None:
    for seed in range(10):
        rig = Rig(seed=seed)
        rig.ring(cadence_named("uk" if lift_at > 6000 else "us"))
        rig.run_until(lift_at)
        rig.transition(True, lift_at)
        rig.run_until(lift_at + 1000)
        trip = rig.kinds(ev.RING_TRIP)
        assert len(trip) == 1
        stop = trip[0][2]
        assert stop - lift_at <= 50 and trip[0][1] == stop - lift_at
        assert not [p for p in rig.pins if p[0] > stop and p[1]]  # no ringing after the trip
        assert rig.pins[-1][1:] == (False, False)
        assert rig.kinds(ev.OFF_HOOK)[0][1] == 1  # the lift answered ringing


def test_cannot_ring_an_off_hook_handset_and_bad_cadences_are_refused() -> None:
    rig = Rig(seed=None)
    rig.transition(True, 10)
    rig.run_until(100)
    with pytest.raises(UsageError):
        rig.core.ring((2000, 4000), rig.now)
    with pytest.raises(UsageError):
        RingSequencer(20, 0).start((100, 200, 300), 0)
    with pytest.raises(UsageError):
        cadence_named("mars")
    with pytest.raises(UsageError):
        RingSequencer(33, 0)
