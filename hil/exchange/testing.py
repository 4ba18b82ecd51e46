"""Test helpers for talking to simulated modems: a minimal pyserial DTE and an independent DLE splitter.

Used by the exchange's own tests; other rooms' tests may use them too (they depend only on pyserial).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import serial


class Dte:
    """The test's side of the serial port: send commands, read until a pattern, split DLE streams."""

    def __init__(self, path: str) -> None:
        self.port = serial.Serial(path, 115200, timeout=0.05)
        self.buf = bytearray()

    def close(self) -> None:
        self.port.close()

    def write(self, data: bytes) -> None:
        self.port.write(data)

    def read_until(self, pattern: bytes, timeout: float = 3.0) -> bytes:
        """Everything up to and including ``pattern`` (fails the test on timeout)."""
        deadline = time.monotonic() + timeout
        while pattern not in self.buf:
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {pattern!r}; have {bytes(self.buf[-300:])!r}")
            self.buf.extend(self.port.read(4096))
        end = self.buf.index(pattern) + len(pattern)
        out = bytes(self.buf[:end])
        del self.buf[:end]
        return out

    def drain(self, seconds: float) -> bytes:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.buf.extend(self.port.read(65536))
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def drain_until(self, done: Callable[[bytes], bool], timeout: float = 5.0) -> bytes:
        """Read until ``done(everything read so far)`` holds, then return it (fails the test on timeout):
        an event-driven ``drain`` that returns as soon as what it waits for has arrived."""
        deadline = time.monotonic() + timeout
        while not done(bytes(self.buf)):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; have {bytes(self.buf[-300:])!r}")
            self.buf.extend(self.port.read(65536))
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def cmd(self, line: str, final: bytes = b"OK\r\n", timeout: float = 3.0) -> str:
        self.write(line.encode() + b"\r")
        return self.read_until(final, timeout).decode("latin-1")


def unshield(stream: bytes) -> tuple[bytes, list[str]]:
    """Split a DCE voice stream into data bytes and DLE event codes (test's own, independent parser)."""
    data, events, i = bytearray(), [], 0
    while i < len(stream):
        b = stream[i]
        if b == 0x10 and i + 1 < len(stream):
            nxt = stream[i + 1]
            if nxt == 0x10:
                data.append(0x10)
            else:
                events.append(chr(nxt))
            i += 2
        else:
            data.append(b)
            i += 1
    return bytes(data), events
