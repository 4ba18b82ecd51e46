"""Shared by the fuzz harnesses: run one harness under atheris (``make fuzz``), or call its check directly.

Every harness module defines ``EXPECTED`` (the documented error types its parser may raise on bad input)
and ``target(data)`` (feed ``data`` to the parser; may assert properties, e.g. that byte-by-byte feeding
gives the same result as one chunk). ``check(module, data)`` runs the target and swallows only the
expected errors: anything else escaping is a crash. The corpus replay test (tests/fuzz) and the fuzzer
call the same ``check``.
"""

from __future__ import annotations

from types import ModuleType


def check(module: ModuleType, data: bytes) -> None:
    expected: tuple[type[BaseException], ...] = module.EXPECTED
    try:
        module.target(data)
    except expected:
        pass


def chunks(data: bytes, seed: int) -> list[bytes]:
    """``data`` cut into small pieces (1..8 bytes, from ``seed``): parsers must not care where cuts fall."""
    out, i, step = [], 0, 1 + seed % 8
    while i < len(data):
        out.append(data[i : i + step])
        i += step
        step = 1 + (step * 5 + seed) % 8
    return out


def merged(events: list[object]) -> list[object]:
    """Events with consecutive voice data (and noise) runs joined: where a chunk ends may split those."""
    from roamline.firmware.line import events as ev

    out: list[object] = []
    for e in events:
        last = out[-1] if out else None
        if isinstance(e, ev.VoiceData) and isinstance(last, ev.VoiceData):
            out[-1] = ev.VoiceData(last.data + e.data)
        elif isinstance(e, ev.Noise) and isinstance(last, ev.Noise):
            out[-1] = ev.Noise(last.text + e.text)
        else:
            out.append(e)
    return out
