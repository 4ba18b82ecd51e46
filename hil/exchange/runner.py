"""Runs an Exchange in real (or scaled) time on one owned thread, with each line's modem on a pty.

Simulated time = real seconds since start x ``time_scale``: ring cycles, modem timers and voice
frames all run ``time_scale`` times faster (at 1.0, voice crosses in real time, 20 ms frames).
"""

from __future__ import annotations

import collections
import logging
import select
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from roamline.hil.errors import UsageError
from roamline.hil.exchange.core import FRAME_S, Exchange
from roamline.hil.exchange.endpoints import Line, Phone
from roamline.hil.exchange.modem import ModemSim
from roamline.hil.exchange.pty import PtyPort

log = logging.getLogger(__name__)


class ExchangeRunner:
    def __init__(self, exchange: Exchange | None = None, *, time_scale: float = 1.0,
                 device_dir: str | Path | None = None) -> None:
        if time_scale <= 0:
            raise UsageError("time_scale must be positive")
        self.exchange = exchange or Exchange()
        self.time_scale = time_scale
        self._own_dir: tempfile.TemporaryDirectory[str] | None = None
        if device_dir is None:
            self._own_dir = tempfile.TemporaryDirectory(prefix="roamline-exchange-")
            device_dir = self._own_dir.name
        self.device_dir = Path(device_dir)
        self.ports: dict[str, PtyPort] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._t0 = time.monotonic()
        self.errors: list[BaseException] = []
        # every dial command a modem was sent: (time.monotonic() the bytes arrived, line, the command);
        # comparable with the box process's clock (CLOCK_MONOTONIC is one clock per machine)
        self.dials: collections.deque[tuple[float, str, str]] = collections.deque(maxlen=200)
        self._partial: dict[str, bytes] = {}

    # ---- building ----
    def add_line(self, number: str, modem: str = "cx93001", *, path: str | Path | None = None,
                 **kw: Any) -> Line:
        """A line with a modem simulator of dialect ``modem``; its device appears at ``path``
        (default DEVICE_DIR/modem-NUMBER) once the runner is started (or at once if running)."""
        with self.exchange.lock:
            line = self.exchange.add_line(number, modem, **kw)
            self.ports[number] = PtyPort(path or self.device_dir / f"modem-{number}")
            if self.running:
                self.ports[number].open()
            return line

    def add_phone(self, number: str, **kw: Any) -> Phone:
        return self.exchange.add_phone(number, **kw)

    def device(self, number: str) -> str:
        """The stable device path of line ``number`` (what pyserial opens)."""
        return str(self.ports[number].link)

    def line(self, number: str) -> Line:
        return self.exchange.lines[number]

    def describe(self) -> list[dict[str, Any]]:
        with self.exchange.lock:
            out = []
            for number, line in self.exchange.lines.items():
                port = self.ports[number]
                out.append({
                    "kind": "line", "number": number, "modem": line.dialect.name, "device": str(port.link),
                    "plugged": port.is_open, "cid_timing": line.cid_timing, "disconnect": line.disconnect,
                })
            for number, phone in self.exchange.phones.items():
                out.append({"kind": "phone", "number": number, "name": phone.name,
                            "answer_after": phone.answer_after, "busy": phone.always_busy})
            return out

    # ---- lifecycle ----
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> ExchangeRunner:
        if self.running:
            return self
        with self.exchange.lock:
            for port in self.ports.values():
                port.open()
        self._stop.clear()
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="exchange", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self.exchange.lock:
            for port in self.ports.values():
                port.close()
        if self._own_dir is not None:
            self._own_dir.cleanup()
            self._own_dir = None

    def __enter__(self) -> ExchangeRunner:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- time ----
    def sim_now(self) -> float:
        return (time.monotonic() - self._t0) * self.time_scale

    def sleep(self, sim_seconds: float) -> None:
        """Sleep for ``sim_seconds`` of simulated time."""
        time.sleep(sim_seconds / self.time_scale)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Poll ``predicate`` (under the exchange lock) until true or ``timeout`` real seconds pass."""
        deadline = time.monotonic() + timeout
        while True:
            with self.exchange.lock:
                if predicate():
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)

    # ---- faults ----
    def set_silent(self, number: str, silent: bool = True) -> None:
        """The modem stops answering AT commands and reporting anything (or comes back)."""
        with self.exchange.lock:
            modem = self.line(number).modem
            if modem is not None:
                modem.silent = silent

    def unplug(self, number: str) -> None:
        """The modem vanishes: its pty closes and its device path disappears; a call on it ends."""
        with self.exchange.lock:
            self.exchange.unplugged(self.line(number))
            self.ports[number].close()

    def replug(self, number: str) -> None:
        """A fresh modem (power-on defaults) appears again at the same device path."""
        with self.exchange.lock:
            line = self.line(number)
            line.modem = ModemSim(line.dialect)
            self.ports[number].open()

    def power_cycle(self, number: str, off_seconds: float = 0.5) -> None:
        """Unplug, wait ``off_seconds`` of real time, replug (the board's USB hub port hook)."""
        self.unplug(number)
        time.sleep(off_seconds)
        self.replug(number)

    def _note_dials(self, number: str, data: bytes, at: float) -> None:
        """Keep the arrival time of each ``ATD…`` command line (the time its carriage return came)."""
        buf = self._partial.get(number, b"") + data
        *lines, rest = buf.split(b"\r")
        self._partial[number] = rest[-64:]  # a command line is short; voice data in between is not kept
        for raw in lines:
            text = raw[-64:].decode("ascii", "replace").upper()
            start = text.rfind("ATD")
            if start >= 0:
                self.dials.append((at, number, text[start:].strip()))

    # ---- the loop ----
    def _loop(self) -> None:
        ex = self.exchange
        try:
            while not self._stop.is_set():
                with ex.lock:
                    fds = {p.master: n for n, p in self.ports.items() if p.master is not None}
                    pending = [fd for fd, n in fds.items() if self.ports[n].has_pending]
                timeout = min(0.02, max(0.001, FRAME_S / self.time_scale))
                try:
                    readable, _, _ = select.select(list(fds), pending, [], timeout)
                except (OSError, ValueError):
                    continue  # a port was closed under us (unplug): rebuild the set
                arrived = time.monotonic()
                now = self.sim_now()
                with ex.lock:
                    for fd in readable:
                        port = self.ports.get(fds[fd])
                        line = ex.lines.get(fds[fd])
                        if port is None or port.master != fd or line is None:
                            continue
                        data = port.read()
                        if data:
                            self._note_dials(fds[fd], data, arrived)
                        if data and line.modem is not None:
                            line.modem.feed(data, now)
                    ex.tick(now)
                    for number, port in self.ports.items():
                        modem = ex.lines[number].modem
                        if modem is not None and port.is_open:
                            out = modem.take_output()
                            if out:
                                port.write(out)
                            elif port.has_pending:
                                port.flush()
        except BaseException as exc:  # recorded for the owner; the thread must not die silently
            log.exception("exchange-loop-crashed")
            self.errors.append(exc)
