"""The thin pyserial adapter around LineSession: reads and writes bytes, supplies ``now``, and performs
recovery steps. It never touches DTR/RTS/RI/DCD (ptys have none; the AT dialogue tells us everything).

Single-threaded: the owner calls ``pump(timeout)`` in its loop (or the blocking helpers, which pump
until their operation finishes). Events seen while a helper waits are kept and returned by ``pump``.
"""

from __future__ import annotations

import logging
import os
import select
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from roamline.firmware.line import dle
from roamline.firmware.line import events as ev
from roamline.firmware.line.errors import CallFailed, ModemError, ModemGone, ModemTimeout
from roamline.firmware.line.modem_profiles import ModemProfile
from roamline.firmware.line.recovery import Outcome, RecoveryPolicy, Step, usb_finder
from roamline.firmware.line.session import LineSession
from roamline.wire.clock import Clock, SystemClock

log = logging.getLogger(__name__)


def open_serial(device: str, baudrate: int = 115200) -> Any:
    """Open ``device`` (a path or a pyserial URL) raw, with no flow control and no modem-control lines."""
    import serial

    try:
        port = serial.serial_for_url(device, baudrate=baudrate, timeout=0, write_timeout=2,
                                     rtscts=False, dsrdtr=False, xonxoff=False, do_not_open=True)
        port.open()
    except (OSError, ValueError) as exc:  # serial.SerialException is an OSError
        raise ModemGone(f"cannot open modem {device}: {exc}") from None
    return port


class SerialLine:
    def __init__(self, device: str, session: LineSession | None = None, *,
                 profile: ModemProfile | None = None, clock: Clock | None = None, baudrate: int = 115200,
                 power_cycle: Callable[[], None] | None = None,
                 finder: Callable[[], str | None] | None = None,
                 opener: Callable[[str], Any] | None = None, stream_silence_s: float = 2.0,
                 refind_interval: float = 0.5) -> None:
        self.device = device
        self.session = session if session is not None else LineSession(profile)
        self.clock = clock if clock is not None else SystemClock()
        self.baudrate = baudrate
        self.power_cycle = power_cycle
        self.finder = finder
        self.opener = opener if opener is not None else (lambda d: open_serial(d, baudrate))
        self.stream_silence_s = stream_silence_s
        self.refind_interval = refind_interval
        self.recovery = RecoveryPolicy(has_power_cycle=power_cycle is not None)
        self._port: Any = None
        self._backlog: deque[ev.LineEvent] = deque()
        self._last_rx = 0.0
        self._next_refind = 0.0
        self._recovering = False
        self._kick = False

    # ---- lifecycle -------------------------------------------------------------------------------
    def open(self) -> None:
        if self._port is None:
            self._port = self.opener(self.device)
            self._last_rx = self.clock.monotonic()

    def close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except Exception:  # closing a vanished device may fail; it is closed either way
                pass

    def kick(self, settle: float = 0.2) -> None:
        """End and abort any voice stream an earlier program left running, then drop stale input."""
        if self._port is None:
            return
        try:
            self._port.write(dle.end_of_stream("single") + dle.ABORT_RX + b"\r")
            time.sleep(settle)
            self._port.reset_input_buffer()
        except Exception as exc:  # pyserial raises several types here; all mean the device is unusable
            raise ModemGone(f"modem {self.device}: {exc}") from None

    def __enter__(self) -> SerialLine:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def is_open(self) -> bool:
        return self._port is not None

    def fileno(self) -> int | None:
        """The port's descriptor, to wait on together with others (None: closed, or a URL port)."""
        try:
            return int(self._port.fileno()) if self._port is not None else None
        except Exception:  # URL ports (loop://, socket://) have none
            return None

    # ---- pumping ---------------------------------------------------------------------------------
    def pump(self, timeout: float = 0.02) -> list[ev.LineEvent]:
        """Move bytes for up to ``timeout`` seconds; return the events that happened (and any kept)."""
        out = list(self._backlog)
        self._backlog.clear()
        out += self._pump_once(timeout)
        return out

    def _pump_once(self, timeout: float) -> list[ev.LineEvent]:
        now = self.clock.monotonic()
        if self._port is None:
            if self.recovery.step is Step.REFIND:
                return self._try_refind(now, timeout)
            return []
        out: list[ev.LineEvent] = []
        try:
            self._flush()
            data = self._read(timeout)
            now = self.clock.monotonic()
            if data:
                self._last_rx = now
                out += self.session.feed(data, now)
            out += self.session.poll(now)
            self._flush()
        except ModemGone as exc:
            return out + self._gone(str(exc))
        if self._recovering:
            return out
        if self.session.core.voice in ("rx", "duplex") and now - self._last_rx > self.stream_silence_s:
            # a receive stream always carries data; a transmit-only one (+VTX, half duplex) sends none
            out += self._silent("no data during a voice stream")
        if any(isinstance(e, ev.OpDone) and e.result == "TIMEOUT" and e.op != "probe" for e in out):
            out += self._silent("a command timed out")
        return out

    def _read(self, timeout: float) -> bytes:

        port = self._port
        try:
            fileno = port.fileno()
        except Exception:  # URL ports (loop://, socket://) have no file descriptor
            fileno = None
        try:
            if fileno is None:
                if not port.in_waiting:
                    time.sleep(min(timeout, 0.005))
                return bytes(port.read(max(1, port.in_waiting)))
            # Straight to the descriptor: one select and one read per wake-up.
            ready = select.select([fileno], [], [], timeout)[0]
            if not ready:
                return b""
            try:
                data = os.read(fileno, 65536)
            except BlockingIOError:
                return b""
            if not data:  # readable yet empty: the device is gone (what pyserial concludes too)
                raise OSError("device reports readiness to read but returned no data")
            return data
        except OSError as exc:  # serial.SerialException included
            raise ModemGone(f"modem {self.device} went away: {exc}") from None

    def _flush(self) -> None:

        data = self.session.outgoing()
        if data and self._port is not None:
            try:
                self._port.write(data)
            except OSError as exc:  # serial.SerialException included
                raise ModemGone(f"modem {self.device} went away: {exc}") from None

    def send_voice(self, data: bytes) -> None:
        self.session.send_voice(data)
        try:
            self._flush()
        except ModemGone as exc:
            self._backlog.extend(self._gone(str(exc)))

    # ---- blocking helpers ------------------------------------------------------------------------
    def run_op(self, start: Callable[[float], None], name: ev.OpName, timeout: float = 120.0) -> ev.OpDone:
        """Start an operation and pump until its OpDone; other events are kept for ``pump``."""
        start(self.clock.monotonic())
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self._port is None:
                raise ModemGone(f"modem {self.device} is not available")
            done: ev.OpDone | None = None
            for e in self._pump_once(0.02):  # events after the OpDone in the same read are kept too
                if done is None and isinstance(e, ev.OpDone) and e.op == name:
                    done = e
                else:
                    self._backlog.append(e)
            if done is not None:
                return done
        raise ModemTimeout(f"{name} did not finish in {timeout:.0f} s")

    def identify(self) -> ModemProfile | None:
        done = self.run_op(self.session.identify, "identify")
        if not done.ok:
            raise ModemTimeout(f"modem {self.device} does not answer AT commands ({done.result})")
        return self.session.profile

    def initialise(self, reset: bool = True) -> None:
        done = self.run_op(lambda now: self.session.initialise(now, reset=reset), "init")
        if not done.ok:
            raise ModemError(f"modem initialisation failed: {done.result}")

    def answer(self) -> None:
        done = self.run_op(self.session.answer, "answer")
        if not done.ok:
            raise CallFailed(done.result.lower(), "answer")

    def dial(self, number: str) -> None:
        done = self.run_op(lambda now: self.session.dial(number, now), "dial")
        if not done.ok:
            raise CallFailed(done.result.lower(), number)

    def flash(self) -> None:
        """Hook flash in a connected call (take a waiting call, or swap back)."""
        done = self.run_op(self.session.flash, "flash")
        if not done.ok:
            raise CallFailed(done.result.lower(), "flash")

    def transmit(self) -> None:
        """Half duplex: the call's stream to +VTX (a greeting to play); no-op on full duplex."""
        done = self.run_op(self.session.transmit, "transmit", timeout=40)
        if not done.ok:
            raise CallFailed(done.result.lower(), "transmit")

    def receive(self) -> None:
        """Half duplex: the call's stream back to +VRX once what was sent has played out."""
        done = self.run_op(self.session.receive, "receive", timeout=40)
        if not done.ok:
            raise CallFailed(done.result.lower(), "receive")

    def hangup(self) -> None:
        self.session.hangup(self.clock.monotonic())
        if self.session.busy:
            self.run_op(lambda now: None, "hangup", timeout=15)

    def wait_for(self, kind: type[ev.LineEvent], timeout: float) -> ev.LineEvent | None:
        """Pump until an event of ``kind`` (others kept); ``None`` after ``timeout``."""
        end = time.monotonic() + timeout
        keep: list[ev.LineEvent] = []
        try:
            while time.monotonic() < end:
                for e in self.pump(min(0.05, max(0.0, end - time.monotonic()))):
                    if isinstance(e, kind):
                        return e
                    keep.append(e)
            return None
        finally:
            self._backlog.extend(keep)

    # ---- recovery --------------------------------------------------------------------------------
    def check(self) -> list[ev.LineEvent]:
        """Probe the modem with ``AT``; recover if it does not answer. Call when idle, now and then."""
        if self._port is None:
            return self.pump(0)
        try:
            done = self.run_op(self.session.probe, "probe", timeout=10)
        except ModemGone as exc:
            return self._gone(str(exc))
        return [] if done.ok else self._silent("no answer to AT")

    def _silent(self, reason: str) -> list[ev.LineEvent]:
        log.warning("modem-silent", extra={"fields": {"device": self.device, "reason": reason}})
        self._kick = self.session.core.voice is not None
        out = self.session.modem_lost(f"silent: {reason}", self.clock.monotonic())
        return out + self._drive(self.recovery.report(Outcome.SILENT), reason)

    def _drive(self, step: Step, reason: str) -> list[ev.LineEvent]:
        """Perform reset / power-cycle steps until the modem is healthy or must be re-found."""
        out: list[ev.LineEvent] = []
        while step in (Step.RESET, Step.POWER_CYCLE):
            if step is Step.RESET:
                out.append(ev.ModemReset(reason))
                step = self.recovery.report(self._reinit_outcome())
            else:
                out.append(ev.ModemPowerCycled())
                self.close()
                assert self.power_cycle is not None
                self.power_cycle()
                step = self.recovery.report(Outcome.DONE)
        if step is Step.HEALTHY:  # answering again after a reset: the owner hears it is back (911 uses it)
            out += [ev.ModemFound(self.device), *self.session.recovered(self.clock.monotonic())]
        else:
            self.close()
            self._next_refind = 0.0
        return out

    def _gone(self, reason: str) -> list[ev.LineEvent]:
        log.warning("modem-gone", extra={"fields": {"device": self.device, "reason": reason}})
        self.close()
        out = self.session.modem_lost(f"unplugged: {reason}", self.clock.monotonic())
        if self.recovery.step is not Step.REFIND:
            self.recovery.step = Step.HEALTHY
            self.recovery.report(Outcome.GONE)
        self._next_refind = 0.0
        return out

    def _try_refind(self, now: float, timeout: float) -> list[ev.LineEvent]:
        if now < self._next_refind:
            time.sleep(min(timeout, self._next_refind - now))
            return []
        self._next_refind = now + self.refind_interval
        usb = self.session.profile.usb if self.session.profile else ()
        finder = self.finder or usb_finder(usb, self.device)
        path = finder()
        if path is None:
            self.recovery.report(Outcome.ABSENT)
            return []
        try:
            self._port = self.opener(path)
        except ModemGone:
            self.recovery.report(Outcome.ABSENT)
            return []
        self.device = path
        self.recovery.report(Outcome.FOUND)
        step = self.recovery.report(self._reinit_outcome())
        if step is Step.HEALTHY:
            return [ev.ModemFound(path), *self.session.recovered(self.clock.monotonic())]
        return self._drive(step, "silent after re-find")

    def _reinit_outcome(self) -> Outcome:
        """Reset and initialise again; what happened, for the recovery table."""
        if self._port is None:
            return Outcome.GONE
        self.session.core.abandon()
        self._recovering = True
        try:
            if self._kick:  # it may still be streaming: end and abort the stream before ATZ
                self._kick = False
                self._port.write(dle.end_of_stream(self.session.core.eos) + dle.ABORT_RX + b"\r")
            if self.session.profile is None:
                self.identify()
            self.initialise(reset=True)
        except (ModemGone, OSError):
            self.close()
            return Outcome.GONE
        except ModemError:
            return Outcome.SILENT
        finally:
            self._recovering = False
        self._last_rx = self.clock.monotonic()
        return Outcome.OK
