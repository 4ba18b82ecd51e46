"""Sans-I/O V.253 voice-modem simulator: DTE bytes in, DTE bytes out, line events in, line requests out.

The exchange calls ``ring``/``caller_id``/``progress``/``loop_drop``/``dtmf``/``hear`` and takes
``speak()`` frames and ``take_requests()``; the pty adapter calls ``feed``/``take_output``; everyone
calls ``tick(now)``. Times are simulated seconds (the exchange may run time-scaled). ``ModemSim`` holds the
state, the DTE output, the line side, voice streams and time; the AT commands are in atcommands (+V in
voicecmds), dialing in dialing, and what it asks of its line in linerequests.
"""

from __future__ import annotations

import logging

import numpy as np

from roamline.hil.exchange import atcommands, audio, callerid, dialing
from roamline.hil.exchange.dialects import Dialect
from roamline.hil.exchange.linerequests import Dial, Flash, LineRequest, OffHook, OnHook, SendDigit
from roamline.hil.exchange.voicepath import VoicePath, take_frame

__all__ = ["DLE", "Dial", "Flash", "LineRequest", "ModemSim", "OffHook", "OnHook", "SendDigit"]

log = logging.getLogger(__name__)

DLE = 0x10
MAX_OUT = 1 << 20  # bytes held for a DTE that does not read
RING_GAP_RESET = 8.0  # no ring for this long: the incoming call is gone, ring count restarts


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

    # ---- DTE side (AT commands: see atcommands) --------------------------------------------------
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
                atcommands.command_byte(self, b, now)

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

    # ---- DTMF to the line (+VTS; the +V commands are in voicecmds) -------------------------------
    def digit_out(self, digit: str, dur: float) -> None:
        """Send a DTMF digit to the line (+VTS): the far end hears the tone and detects the digit."""
        self._requests.append(SendDigit(digit))
        self.tone_audio.append(audio.tone(audio.DTMF_FREQS[digit], dur))

    # ---- hook and answer (dialing: see dialing) --------------------------------------------------
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
            dialing.dial_tick(self, now)
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
