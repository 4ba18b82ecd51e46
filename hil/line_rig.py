"""Helpers for tests that drive the line driver (firmware/line) across the exchange simulator.

Waits are event-driven: ``pump_until`` returns as soon as its condition holds; its timeout is only a
ceiling (generous, so a loaded machine slows a test down instead of failing it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from roamline.firmware.line import events as ev
from roamline.firmware.line.serial_line import SerialLine
from roamline.firmware.line.session import LineSession
from roamline.hil.exchange.runner import ExchangeRunner

PROFILES = ("usr5637", "cx93001", "mt9234mu")


def driver_on(runner: ExchangeRunner, number: str, *, expect: str | None = None, command_timeout: float = 2.0,
              stream_silence_s: float = 2.0, session_kw: dict[str, Any] | None = None,
              **line_kw: Any) -> SerialLine:
    """The driver, identified and initialised, on line ``number`` (added with ``line_kw`` if new)."""
    if number not in runner.exchange.lines:
        runner.add_line(number, line_kw.pop("modem", expect or "cx93001"), **line_kw)
    runner.start()
    session = LineSession(command_timeout=command_timeout, cid_quiet_s=0.5, **(session_kw or {}))
    line = SerialLine(runner.device(number), session,
                      finder=lambda: runner.device(number) if runner.ports[number].is_open else None,
                      stream_silence_s=stream_silence_s, refind_interval=0.05)
    line.open()
    profile = line.identify()
    if expect is not None:
        assert profile is not None and profile.name == expect, profile
    assert line.session.voice_supported
    line.initialise()
    return line


def pump_until(line: SerialLine, done: Callable[[list[ev.LineEvent]], bool], seconds: float = 15.0,
               feed: bytes = b"") -> list[ev.LineEvent]:
    """Pump ``line`` until ``done(events so far)``; ``feed`` is sent as voice while a TX stream runs."""
    seen: list[ev.LineEvent] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if feed and line.session.core.voice in ("tx", "duplex"):
            line.send_voice(feed)
        seen += line.pump(0.02)
        if done(seen):
            return seen
    shown = [e for e in seen if not isinstance(e, ev.VoiceData)]
    raise AssertionError(f"condition not met in {seconds} s; saw {shown}")


def has(kind: type[ev.LineEvent], count: int = 1) -> Callable[[list[ev.LineEvent]], bool]:
    return lambda seen: sum(isinstance(e, kind) for e in seen) >= count


def of(kind: type[ev.LineEvent], seen: list[ev.LineEvent]) -> list[Any]:
    return [e for e in seen if isinstance(e, kind)]
