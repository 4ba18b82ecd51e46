from __future__ import annotations

import pytest

from roamline.firmware.line import events as ev
from roamline.firmware.line.modem_profiles import by_name
from roamline.firmware.line.session import LineSession
from roamline.hil.line_peer import ScriptedModem


class Wire:
    """Connects a LineSession to a ScriptedModem in-process, with a virtual clock."""

    def __init__(self, session: LineSession, modem: ScriptedModem, bytewise: bool = False) -> None:
        self.s, self.m, self.now, self.bytewise = session, modem, 1000.0, bytewise
        self.events: list[ev.LineEvent] = []

    def step(self) -> list[ev.LineEvent]:
        out: list[ev.LineEvent] = []
        for _ in range(50):
            data = self.m.feed(self.s.outgoing())
            if not data:
                break
            chunks = [data[i : i + 1] for i in range(len(data))] if self.bytewise else [data]
            for c in chunks:
                out += self.s.feed(c, self.now)
        out += self.s.poll(self.now)
        self.events += out
        return out

    def advance(self, seconds: float) -> list[ev.LineEvent]:
        self.now += seconds
        return self.step()

    def op(self, name: str) -> ev.OpDone:
        for _ in range(20):
            for e in self.step():
                if isinstance(e, ev.OpDone) and e.op == name:
                    return e
            self.now += 1.0
        raise AssertionError(f"{name} never finished")

    def ready(self) -> None:
        self.s.identify(self.now)
        assert self.op("identify").ok
        self.s.initialise(self.now)
        assert self.op("init").ok


@pytest.fixture(params=[False, True], ids=["whole", "bytewise"])
def bytewise(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def make(profile: str | None = None, bytewise: bool = False, **modem_kw: object) -> Wire:
    s = LineSession(by_name(profile) if profile else None, ring_gap_s=8.0, no_answer_s=30.0)
    return Wire(s, ScriptedModem(**modem_kw), bytewise)  # type: ignore[arg-type]


@pytest.fixture
def mk() -> object:
    return make
