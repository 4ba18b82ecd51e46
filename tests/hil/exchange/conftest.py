"""Fixtures: an exchange runner (time-scaled) and a tiny DTE that talks to a simulated modem via pyserial."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from roamline.hil.exchange.runner import ExchangeRunner
from roamline.hil.exchange.testing import Dte

DIALECTS = ["usr5637", "cx93001", "mt9234mu"]
SCALE = 20.0  # simulated seconds per real second in these tests


@pytest.fixture
def runner() -> Iterator[ExchangeRunner]:
    r = ExchangeRunner(time_scale=SCALE)
    yield r
    r.stop()
    assert not r.errors


@pytest.fixture
def dte_factory(runner: ExchangeRunner) -> Iterator:
    opened: list[Dte] = []

    def make(number: str) -> Dte:
        d = Dte(runner.device(number))
        opened.append(d)
        return d

    yield make
    for d in opened:
        d.close()
