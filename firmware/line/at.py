"""The AT dialogue with a V.253 modem as a sans-I/O core: bytes and ``now`` in, events and bytes out.

Handles a command queue (one command in flight, each with a deadline), command echo on or off, verbose
or numeric result codes, garbage and line noise between result codes (dropped as ``Noise``, bounded),
unsolicited RING / caller-ID lines / DLE events, and voice data mode entered on ``CONNECT`` to
``+VRX``/``+VTX``/``+VTR``, where bytes go through the DLE decoder until end-of-stream.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

from roamline.firmware.line import dle
from roamline.firmware.line import events as ev
from roamline.firmware.line.callerid import CallerIdAssembler
from roamline.firmware.line.errors import LineUsageError

FINAL: dict[str, ev.ResultName] = {r: r for r in (  # verbose final result codes (CONNECT takes text)
    "OK", "ERROR", "NO CARRIER", "NO DIALTONE", "BUSY", "NO ANSWER", "VCON")}
NUMERIC: dict[str, ev.ResultName] = {"0": "OK", "1": "CONNECT", "3": "NO CARRIER", "4": "ERROR",
                                     "6": "NO DIALTONE", "7": "BUSY", "8": "NO ANSWER", "9": "VCON"}
_RING = re.compile(r"^RING(?: ?[0-9A-Z]{1,2})?$")
MAX_LINE = 512
_VOICE_CMDS: dict[str, ev.VoiceMode] = {"+VRX": "rx", "+VTX": "tx", "+VTR": "duplex", "#VRX": "rx",
                                         "#VTX": "tx"}


@dataclass(slots=True)
class _Pending:
    command: str
    timeout: float
    deadline: float = 0.0
    lines: list[str] = field(default_factory=list)
    echo_seen: bool = False


def voice_mode_of(command: str) -> ev.VoiceMode | None:
    up = command.upper()
    for key, mode in _VOICE_CMDS.items():
        if up.endswith(key):
            return mode
    return None


class ModemCore:
    def __init__(self, *, eos: dle.EosStyle = "single", cid: CallerIdAssembler | None = None,
                 max_queue: int = 32) -> None:
        self.eos = eos
        self.cid = cid if cid is not None else CallerIdAssembler()
        self.voice: ev.VoiceMode | None = None  # None: command mode
        self._decoder = dle.DleDecoder(eos)
        self._queue: deque[_Pending] = deque()
        self._max_queue = max_queue
        self._current: _Pending | None = None
        self._out = bytearray()
        self._line = bytearray()
        self._after_dle = False
        self._skip_lf = False
        self.noise_bytes = 0

    # ---- host side -------------------------------------------------------------------------------
    def command(self, command: str, now: float, timeout: float = 5.0) -> None:
        """Queue ``command`` (with its ``AT`` prefix). Its ``CommandDone``/``CommandTimedOut`` comes later."""
        if len(self._queue) >= self._max_queue:
            raise LineUsageError("AT command queue full")
        if self.voice is not None:
            raise LineUsageError(f"cannot send {command!r} while a voice stream is running")
        self._queue.append(_Pending(command, timeout))
        self._start_next(now)

    @property
    def busy(self) -> bool:
        return self._current is not None or bool(self._queue)

    def outgoing(self) -> bytes:
        """Bytes to write to the modem now (taken: a second call returns only newer bytes)."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def send_voice(self, data: bytes) -> None:
        if self.voice not in ("tx", "duplex"):
            raise LineUsageError("no voice transmit stream running")
        self._out += dle.shield(data)

    def stop_voice(self, now: float, timeout: float = 2.0) -> None:
        """End the voice stream. TX-only: end marker, then the modem answers OK in command mode.
        RX/duplex: end marker and receive abort; the modem answers DLE ETX then OK."""
        if self.voice is None:
            return
        if self.voice == "tx":
            self._out += dle.end_of_stream(self.eos)
            self._leave_voice()
        else:
            if self.voice == "duplex":
                self._out += dle.end_of_stream(self.eos)
            self._out += dle.ABORT_RX
        self._current = _Pending("<end-voice>", timeout, deadline=now + timeout, echo_seen=True)

    def abandon(self) -> list[ev.LineEvent]:
        """Forget everything in flight (the device went away). Returns ``CommandTimedOut`` for each."""
        out: list[ev.LineEvent] = []
        if self._current is not None:
            out.append(ev.CommandTimedOut(self._current.command))
        out += [ev.CommandTimedOut(p.command) for p in self._queue]
        self._current = None
        self._queue.clear()
        self._out.clear()
        self._line.clear()
        self._after_dle = False
        self._leave_voice()
        return out

    # ---- modem side ------------------------------------------------------------------------------
    def feed(self, data: bytes, now: float) -> list[ev.LineEvent]:
        out: list[ev.LineEvent] = []
        if data:
            if self.voice is not None:
                if self._skip_lf:  # CONNECT ended with CR: its LF is not voice data
                    self._skip_lf = False
                    if data[:1] == b"\n":
                        data = data[1:]
                got = self._decoder.feed(data)
                rest = b""
                for e in got:
                    if isinstance(e, ev.Noise):  # bytes after end-of-stream are command text again
                        rest = e.text.encode("latin-1")
                    else:
                        out.append(e)
                if self._decoder.ended:
                    self._leave_voice()
                    self._start_next(now)
                    out += self._feed_text(rest, now)
                return out + self.poll(now)
            out += self._feed_text(data, now)
        return out + self.poll(now)

    def poll(self, now: float) -> list[ev.LineEvent]:
        out = self.cid.poll(now)
        cur = self._current
        if cur is not None and now >= cur.deadline:
            self._current = None
            if cur.command == "<end-voice>":  # the modem never confirmed: assume command mode
                self._leave_voice()
            out.append(ev.CommandTimedOut(cur.command))
            self._start_next(now)
        return out

    def deadline(self) -> float | None:
        times = [t for t in (self.cid.deadline(), self._current.deadline if self._current else None)
                 if t is not None]
        return min(times) if times else None

    # ---- internals -------------------------------------------------------------------------------
    def _start_next(self, now: float) -> None:
        if self._current is not None or not self._queue or self.voice is not None:
            return
        cur = self._queue.popleft()
        cur.deadline = now + cur.timeout
        self._current = cur
        self._out += cur.command.encode("ascii") + b"\r"

    def _leave_voice(self) -> None:
        self.voice = None
        self._decoder.reset()

    def _feed_text(self, data: bytes, now: float) -> list[ev.LineEvent]:
        out: list[ev.LineEvent] = []
        for pos, b in enumerate(data):
            if self._after_dle:
                self._after_dle = False
                if b not in (dle.DLE, dle.ETX):
                    out += self._event(dle.event_for(b), now)
                continue
            if b == dle.DLE:
                self._after_dle = True
            elif b in (0x0D, 0x0A):
                if self._line:
                    line = self._line.decode("latin-1").strip()
                    self._line.clear()
                    out += self._on_line(line, now)
                    if self.voice is not None:  # CONNECT: the rest of this read is voice data
                        self._skip_lf = b == 0x0D
                        return out + self.feed(data[pos + 1 :], now)
            elif b < 0x20 or b == 0x7F:
                self.noise_bytes += 1
            elif len(self._line) >= MAX_LINE:
                self.noise_bytes += 1
                if len(self._line) == MAX_LINE:
                    out.append(ev.Noise(self._line[:40].decode("latin-1") + "..."))
                    self._line.append(b)  # mark overflow; the line is dropped at its end
            else:
                self._line.append(b)
        return out

    def _event(self, e: ev.LineEvent, now: float) -> list[ev.LineEvent]:
        if isinstance(e, ev.Ring):
            return [*self.cid.ring(now), e]
        return [e]

    def _on_line(self, line: str, now: float) -> list[ev.LineEvent]:
        if not line or len(line) > MAX_LINE:
            return []
        cur = self._current
        up = line.upper()
        if cur is not None and not cur.echo_seen and up == cur.command.upper():
            cur.echo_seen = True
            return []
        result = self._result_of(up, cur)
        if result is not None:
            if cur is None:
                return [ev.ResultCode(*result)] if result[0] != "OK" else [ev.Noise(line)]
            self._current = None
            code = result[0]
            done = ev.CommandDone(cur.command, code, tuple(cur.lines))
            if code == "CONNECT":
                mode = voice_mode_of(cur.command)
                if mode is not None:
                    self.voice = mode
                    self._decoder = dle.DleDecoder(self.eos)
            if cur.command == "<end-voice>":
                done = ev.CommandDone(cur.command, code)
            self._start_next(now)
            return [done]
        if _RING.match(up) or (line == "2" and cur is None):
            return self._event(ev.Ring(0), now)
        cid = self.cid.feed_line(line, now)
        if cid is not None:
            return cid
        if cur is not None:
            if len(cur.lines) < 64:
                cur.lines.append(line)
            return []
        return [ev.Noise(line)]

    @staticmethod
    def _result_of(up: str, cur: _Pending | None) -> tuple[ev.ResultName, str] | None:
        if up in FINAL:
            return FINAL[up], ""
        if up == "NO DIAL TONE":
            return "NO DIALTONE", ""
        if up.startswith("CONNECT"):
            return "CONNECT", up[7:].strip()
        if cur is not None and up in NUMERIC:
            return NUMERIC[up], ""
        return None
