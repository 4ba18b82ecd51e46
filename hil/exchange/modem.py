"""Sans-I/O V.253 voice-modem simulator: DTE bytes in, DTE bytes out, line events in, line requests out.

The exchange calls ``ring``/``caller_id``/``progress``/``loop_drop``/``dtmf``/``hear`` and takes
``speak()`` frames and ``take_requests()``; the pty adapter calls ``feed``/``take_output``; everyone
calls ``tick(now)``. Times are simulated seconds (the exchange may run time-scaled).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from roamline.hil.exchange import audio, callerid, voicecmds
from roamline.hil.exchange.atparse import AtSyntaxError, Cmd, parse
from roamline.hil.exchange.dialects import Dialect
from roamline.hil.exchange.voicepath import VoicePath, take_frame

log = logging.getLogger(__name__)

DLE = 0x10
MAX_LINE = 256
MAX_OUT = 1 << 20  # bytes held for a DTE that does not read
RING_GAP_RESET = 8.0  # no ring for this long: the incoming call is gone, ring count restarts


@dataclass(frozen=True, slots=True)
class LineRequest:
    """Base of what the modem asks of its line."""


@dataclass(frozen=True, slots=True)
class OffHook(LineRequest):
    pass


@dataclass(frozen=True, slots=True)
class OnHook(LineRequest):
    pass


@dataclass(frozen=True, slots=True)
class Dial(LineRequest):
    number: str


@dataclass(frozen=True, slots=True)
class SendDigit(LineRequest):
    digit: str


@dataclass(frozen=True, slots=True)
class Flash(LineRequest):
    """A hook flash (on-hook for about 0.5 s) while the modem is on the line."""


class ModemSim:
    def __init__(self, dialect: Dialect) -> None:
        self.d = dialect
        self.silent = False  # fault: the modem stops answering and reporting anything
        self._out = bytearray()
        self._requests: list[LineRequest] = []
        self.off_hook = False
        self.last_command = ""
        self._line = bytearray()
        self._reset_settings()
        self.mode = "command"  # command | dialing | rx | tx | trx | tones | answering
        self._deferred: tuple[float, str] | None = None  # (when, result) for +VTS, data-mode ATA
        self._now = 0.0
        # ringing
        self.rings = 0
        self._last_ring = -1e9
        # call progress as heard: (tone name or None, since)
        self._tone: str | None = None
        self._tone_since = 0.0
        self._next_report = 0.0
        # dialing
        self._dial_digits = ""
        self._dial_done_at = 0.0
        self._dial_sent = False
        self._dial_started = 0.0
        self._ringback_seen = False
        self._ringback_end = 0.0
        self.voice = VoicePath()
        self._last_dte = 0.0
        self.tone_audio: list[np.ndarray] = []

    def _reset_settings(self) -> None:
        self.echo = True
        self.verbose = True
        self.quiet = False
        self.fclass = 0
        self.vcid = 0
        self.vsm = self.d.default_format
        self.vsd = (128, 50)
        self.vit = 0
        self.vra = 50
        self.vrn = 10
        self.vtd = 100
        self.vgr = 128
        self.vgt = 128
        self.vls = 0
        self.sreg = {0: 0, 3: 13, 4: 10, 5: 8, 6: 2, 7: 50, 8: 2, 10: 14, 11: 95}

    # ---- DTE side -------------------------------------------------------------------------------
    def feed(self, data: bytes, now: float) -> None:
        self._now = now
        if self.silent:
            return
        self._last_dte = now
        i = 0
        while i < len(data):
            if self.mode in ("tx", "trx", "rx"):
                action, used = self.voice.dte_bytes(data[i:])
                i += used
                self._stream_action(action)
                continue
            b = data[i]
            i += 1
            if self.mode in ("dialing", "tones"):
                if self.mode == "dialing" and b not in (0x11, 0x13):  # any key but XON/XOFF aborts
                    self.hangup()
                    self._finish("NO CARRIER")
            else:
                self._command_byte(b, now)

    def take_output(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def take_requests(self) -> list[LineRequest]:
        r, self._requests = self._requests, []
        return r

    def _write(self, data: bytes) -> None:
        if self.silent:
            return
        if len(self._out) + len(data) > MAX_OUT:
            log.warning("modem-output-dropped", extra={"fields": {"bytes": len(data)}})
            return
        self._out.extend(data)

    def _result(self, code: str) -> None:
        if self.quiet:
            return
        if self.verbose:
            self._write(f"\r\n{code}\r\n".encode())
        else:
            self._write(f"{self.d.numeric.get(code, code)}\r".encode())

    def info(self, text: str) -> None:
        self._write((f"\r\n{text}\r\n" if self.verbose else f"{text}\r\n").encode())

    def _event(self, code: str) -> None:
        if self.fclass == 8:
            self._write(bytes([DLE]) + code.encode())

    def _finish(self, result: str) -> None:
        self.mode = "command"
        self._result(result)

    # ---- command state ---------------------------------------------------------------------------
    def _command_byte(self, b: int, now: float) -> None:
        cr, bs = self.sreg[3], self.sreg[5]
        if self.echo:
            self._write(bytes([b]))
        if b == bs:
            if self._line:
                self._line.pop()
            return
        if b == cr:
            line = self._line.decode("latin-1")
            self._line.clear()
            self._command_line(line, now)
            return
        if b == 0x0A or b == 0:
            return
        if b == ord("/") and self._line[-1:].upper() == b"A" and len(self._line.strip()) >= 1:
            # "A/" repeats the last command line at once
            self._line.clear()
            if self.echo:
                self._write(b"\r")
            self._command_line(self.last_command, now)
            return
        if len(self._line) >= MAX_LINE:
            self._line.clear()
            self._result("ERROR")
            return
        self._line.append(b)

    def _command_line(self, line: str, now: float) -> None:
        at = line.upper().rfind("AT")  # line noise before the prefix is ignored
        if at < 0:
            return
        body = line[at + 2 :]
        self.last_command = "AT" + body
        try:
            cmds = parse(body)
        except AtSyntaxError:
            self._result("ERROR")
            return
        for cmd in cmds:
            try:
                outcome = self._execute(cmd, now)
            except (ValueError, KeyError, IndexError, TypeError):
                outcome = "ERROR"
            if outcome == "ERROR":
                self._result("ERROR")
                return
            if outcome == "DEFER":  # the command answers later (dial, stream, tones)
                return
        self._result("OK")

    def _execute(self, c: Cmd, now: float) -> str:
        n = c.name
        v = int(c.arg) if c.arg.isdigit() else 0
        if n == "E":
            self.echo = v == 1
        elif n == "V":
            self.verbose = v == 1
        elif n == "Q":
            self.quiet = v == 1
        elif n in ("L", "M", "X", "&C", "&D", "&K", "&W", "&S", "B", "N", "W", "Y", "&B", "&G", "&Y"):
            pass
        elif n in ("Z", "&F"):
            self.hangup()
            self._reset_settings()
            self.echo, self.verbose, self.quiet = True, True, False
        elif n == "H":
            self.hangup()
        elif n == "I":
            text = self.d.ati.get(v)
            if text is None:
                return "ERROR"
            if text != "OK":
                self.info(text)
        elif n == "O":
            return "ERROR"
        elif n.startswith("S") and n[1:].isdigit():
            reg = int(n[1:])
            if c.op == "?":
                self.info(f"{self.sreg.get(reg, 0):03d}")
            elif c.op == "=":
                if not 0 <= int(c.arg) <= 255:
                    return "ERROR"
                self.sreg[reg] = int(c.arg)
        elif n == "A":
            return self.answer(now)
        elif n == "D":
            return self._dial(c.arg, now)
        elif n in ("+GMI", "+FMI"):
            self.info(self.d.manufacturer)
        elif n in ("+GMM", "+FMM"):
            self.info(self.d.model)
        elif n in ("+GMR", "+FMR"):
            self.info(self.d.revision)
        elif n == "+GCAP":
            self.info("+GCAP: +FCLASS,+MS,+ES,+DS,+V")
        elif n == "+FCLASS":
            return self._fclass(c)
        elif n in self.d.cid_commands:
            return self._param(c, "vcid", (0, 1, 2), "0-2" if n == "+VCID" else "0,1,2")
        elif n == "+VCID" or n == "#CID":
            return "ERROR"
        elif n.startswith("+V"):
            return self._voice(c, now)
        else:
            return "ERROR"
        return "OK"

    def _param(self, c: Cmd, attr: str, allowed: tuple[int, ...], rng: str) -> str:
        if c.op == "?":
            self.info(str(getattr(self, attr)))
        elif c.op == "=?":
            self.info(f"({rng})")
        elif c.op == "=":
            val = int(c.arg)
            if val not in allowed:
                return "ERROR"
            setattr(self, attr, val)
        else:
            return "ERROR"
        return "OK"

    def _fclass(self, c: Cmd) -> str:
        if c.op == "?":
            self.info(str(self.fclass))
        elif c.op == "=?":
            self.info(self.d.fclass_range)
        elif c.op == "=":
            if c.arg not in ("0", "1", "1.0", "2", "8") or c.arg not in self.d.fclass_range:
                return "ERROR"
            new = 8 if c.arg == "8" else 0
            if new != 8 and self.off_hook:
                self.hangup()
            self.fclass = new
        else:
            return "ERROR"
        return "OK"

    # ---- voice commands (+V...): see voicecmds --------------------------------------------------
    def _voice(self, c: Cmd, now: float) -> str:
        return voicecmds.execute(self, c, now)

    def digit_out(self, digit: str, dur: float) -> None:
        """Send a DTMF digit to the line (+VTS): the far end hears the tone and detects the digit."""
        self._requests.append(SendDigit(digit))
        self.tone_audio.append(audio.tone(audio.DTMF_FREQS[digit], dur))

    # ---- hook, answer, dial ----------------------------------------------------------------------
    def _go_off_hook(self) -> None:
        if not self.off_hook:
            self.off_hook = True
            self._requests.append(OffHook())

    def hangup(self) -> None:
        if self.off_hook:
            self.off_hook = False
            self._requests.append(OnHook())
        self.mode = "command"
        self._deferred = None
        self._tone = None
        self.voice.stop()
        self.tone_audio.clear()

    def ringing(self, now: float) -> bool:
        return self.rings > 0 and now - self._last_ring < RING_GAP_RESET

    def answer(self, now: float) -> str:
        incoming = self.ringing(now)
        self._go_off_hook()
        self.rings = 0
        if self.fclass == 8:
            if incoming and self.d.answer_result != "OK":
                self._result(self.d.answer_result)
                return "DEFER"  # VCON replaces OK
            return "OK"
        # data mode: no modem answers a voice call with a carrier
        self.mode = "answering"
        self._deferred = (now + 3.0, "NO CARRIER")
        return "DEFER"

    def _dial(self, dialstring: str, now: float) -> str:
        digits, delay, flashes = "", 0.0, 0
        for ch in dialstring.upper():
            if ch in "0123456789*#ABCD":
                digits += ch
                delay += (self.sreg[11] / 1000.0) * 2
            elif ch == ",":
                delay += self.sreg[8]
            elif ch == "!":
                delay += 0.5
                flashes += 1
            elif ch in "TPW@;R -()L":
                continue
            else:
                return "ERROR"
        if self.off_hook and flashes and not digits:
            # already on the line (in a call): flash the hook, e.g. to take a waiting call; OK when done
            self._requests += [Flash()] * flashes
            self.mode = "tones"
            self._deferred = (now + delay, "OK")
            return "DEFER"
        self._go_off_hook()
        self.mode = "dialing"
        self._dial_digits = digits
        self._dial_started = now
        self._dial_done_at = now + 0.5 + delay  # listens for dial tone first
        self._dial_sent = False
        self._ringback_seen = False
        return "DEFER"

    def _dial_tick(self, now: float) -> None:
        if not self._dial_sent:
            if self._tone is None and now - self._dial_started >= min(self.sreg[6], 2):
                self.hangup()
                self._finish("NO DIALTONE")
            elif now >= self._dial_done_at and self._tone == "dial":
                self._dial_sent = True
                self._requests.append(Dial(self._dial_digits))
                self._dial_done_at = now
                if self.d.dial_immediate and self.fclass == 8:
                    self._finish(self.d.dial_result)
            return
        since = now - self._dial_done_at
        if self._tone in ("busy", "reorder") and now - self._tone_since >= 1.0:
            self.hangup()
            self._finish("BUSY")
        elif self._tone == "ringback":
            if since >= self.sreg[7]:
                self.hangup()
                self._finish("NO ANSWER")
        elif self.fclass != 8:
            if since >= 1.0:
                self.hangup()
                self._finish("NO CARRIER")
        elif self._ringback_seen:
            if now - self._ringback_end >= self.vra / 10.0:
                self._finish(self.d.dial_result)
        elif since >= self.vrn:
            self._finish(self.d.dial_result)

    # ---- line side (called by the exchange) ------------------------------------------------------
    def ring(self, now: float) -> None:
        if now - self._last_ring >= RING_GAP_RESET:
            self.rings = 0
        self.rings += 1
        self._last_ring = now
        if not self.off_hook:
            self._result("RING")
        if self.sreg[0] and self.rings >= self.sreg[0] and not self.off_hook and self.mode == "command":
            outcome = self.answer(now)
            if outcome == "OK":
                self._result("OK")

    def caller_id(self, p: callerid.Presentation, now: float) -> None:
        if self.off_hook or not self.vcid:
            return
        if self.vcid == 2:
            self._write(f"\r\n{self.d.cid_hex_tag}{callerid.encode(p).hex().upper()}\r\n".encode())
        elif not p.corrupt:  # a formatting modem drops a message whose checksum fails
            sep = self.d.cid_sep
            self._write(("\r\n" + "\r\n".join(callerid.formatted_lines(p, sep)) + "\r\n").encode())

    def progress(self, tone: str | None, now: float) -> None:
        """The call-progress tone the line now carries (dial, ringback, busy, reorder) or None."""
        if tone == self._tone:
            return
        if self._tone == "ringback":
            # ringback stops: the last 'on' burst ended at most 2 s into its 6 s cycle
            into = (now - self._tone_since) % 6.0
            self._ringback_end = now - max(0.0, into - 2.0)
        self._tone, self._tone_since = tone, now
        self._next_report = now + {"dial": 0.5, "busy": 1.0, "reorder": 1.0}.get(tone or "", 0.0)
        if tone == "ringback" and self.mode == "dialing":
            self._ringback_seen = True

    def call_waiting(self, now: float) -> None:
        """A call-waiting burst on the line (V.253 event 15, reported as <DLE>w)."""
        if self.off_hook:
            self._event("w")

    def loop_drop(self, now: float) -> None:
        if self.off_hook:
            self._event("l")

    def dtmf(self, digit: str, now: float) -> None:
        if self.off_hook:
            self._event(digit)

    def hear(self, frame: np.ndarray, now: float) -> None:
        """One 20 ms frame from the line."""
        if self.silent:
            return
        data, event = self.voice.hear(frame, now, self.vsd[1])
        self._write(data)
        if event:
            self._event(event)

    def speak(self, now: float) -> np.ndarray:
        """The 20 ms frame this modem puts on the line."""
        if self.tone_audio:
            return take_frame(self.tone_audio)[0]
        frame, event = self.voice.speak()
        if event:
            self._event(event)
        return frame

    # ---- voice data state ------------------------------------------------------------------------
    def start_stream(self, mode: str, now: float) -> None:
        fmt = self.d.format_by_code(self.vsm)
        assert fmt is not None
        self.mode = mode
        self.voice.start(fmt, receive=mode in ("rx", "trx"), transmit=mode in ("tx", "trx"), now=now)
        self._result("CONNECT")

    def _end_stream(self) -> None:
        if self.voice.receiving:
            self._write(b"\x10\x10\x10\x03" if self.d.eos_triple else b"\x10\x03")
        self.voice.stop()
        self.mode = "command"
        self._result("OK")

    def _stream_action(self, action: str | None) -> None:
        if action == "abort" or (action == "end" and self.mode != "tx"):
            self._end_stream()
        elif action == "end":  # +VTX: OK once the buffer has played out
            self.voice.draining = True
            self.voice.transmitting = False
            self.mode = "command_wait"

    # ---- time ------------------------------------------------------------------------------------
    def tick(self, now: float) -> None:
        self._now = now
        if self.silent:
            return
        if self.mode == "dialing":
            self._dial_tick(now)
        if self.mode == "command_wait" and not self.voice.tx_len:
            self.voice.stop()
            self._finish("OK")
        if self._deferred and now >= self._deferred[0]:
            result = self._deferred[1]
            self._deferred = None
            if self.mode == "answering":
                self.hangup()
            self._finish(result)
        if self.mode == "tones" and self._deferred is None:
            self.mode = "command"
        if self.off_hook and self.fclass == 8 and self._tone and now >= self._next_report:
            self._report_tone(now)
        if self.vit and self.off_hook and self.fclass == 8 and now - self._last_dte >= self.vit:
            log.info("modem-inactivity-hangup")
            self.hangup()

    def _report_tone(self, now: float) -> None:
        tone = self._tone
        if tone == "ringback":
            # 'r' at the start of every ringback burst
            cycles = int((now - self._tone_since) // 6.0)
            self._event("r")
            self._next_report = self._tone_since + (cycles + 1) * 6.0
        elif tone in ("busy", "reorder"):
            self._event("b")
            self._next_report = now + 4.0
        elif tone == "dial":
            if self.mode in ("rx", "trx"):
                self._event("d")
            self._next_report = now + 3.0
