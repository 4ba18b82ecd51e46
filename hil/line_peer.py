"""A small scripted V.253 modem peer for the line driver's own tests and benchmark (sans-I/O + a pty runner).

Not the exchange simulator (``hil/exchange``): this peer answers a fixed script so driver tests do not
depend on it. ``echo``/``numeric`` and the replies are settable per test; ``inject`` queues unsolicited
output (RING, caller ID, DLE events); ``silent`` makes it ignore everything.
"""

from __future__ import annotations

import os
import select
import threading
import tty
from pathlib import Path

DLE, ETX = 0x10, 0x03
CODES = {"OK": "0", "CONNECT": "1", "RING": "2", "NO CARRIER": "3", "ERROR": "4", "NO DIALTONE": "6",
         "BUSY": "7", "NO ANSWER": "8", "VCON": "9"}


class ScriptedModem:
    def __init__(self, ident: dict[str, str] | None = None, *, echo: bool = True, numeric: bool = False,
                 vtr: bool = True, eos: str = "single", dial_result: str = "OK",
                 answer_result: str = "VCON", frame: tuple[bytes, bytes] = (b"\r\n", b"\r\n"),
                 after: dict[str, bytes] | None = None) -> None:
        self.ident = ident or {"ATI3": "CX93001-EIS_V0.2002-V92", "AT+FCLASS=?": "0,1,1.0,8"}
        self.default_echo = self.echo = echo
        self.numeric, self.vtr, self.eos = numeric, vtr, eos
        self.dial_result, self.answer_result = dial_result, answer_result
        self.frame = frame  # what goes before and after a verbose line: result-code spacing varies
        self.after = dict(after or {})  # command -> unsolicited bytes to send once after its result
        self.silent = False
        self.mode = "cmd"  # "cmd" | "rx" | "tx" | "duplex"
        self.commands: list[str] = []
        self.received_voice = bytearray()
        self._line = bytearray()
        self._after_dle = False
        self._out = bytearray()

    # what the modem says
    def inject(self, data: bytes) -> None:
        self._out += data

    def result(self, code: str) -> bytes:
        return f"{CODES[code]}\r".encode() if self.numeric else self.frame[0] + code.encode() + self.frame[1]

    def voice(self, data: bytes) -> None:
        """Voice samples towards the host (only while a receive stream runs)."""
        if self.mode in ("rx", "duplex"):
            self._out += data.replace(b"\x10", b"\x10\x10")

    def end_stream(self) -> None:
        """The modem ends the stream itself (e.g. after loop current loss)."""
        self._finish_stream()

    def take(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    # what the host says
    def feed(self, data: bytes) -> bytes:
        if self.silent:
            return b""
        for b in data:
            if self.mode != "cmd":
                self._voice_byte(b)
            elif b == 0x0D:
                line = self._line.decode("latin-1").strip()
                self._line.clear()
                if self.echo:
                    self._out += line.encode("latin-1") + b"\r"
                if line:
                    self._command(line)
                    self._out += self.after.pop(line.upper(), b"")
            elif b != 0x0A:
                self._line.append(b)
        return self.take()

    def _voice_byte(self, b: int) -> None:
        if not self._after_dle:
            if b == DLE:
                self._after_dle = True
            elif self.mode in ("tx", "duplex"):
                self.received_voice.append(b)
            return
        self._after_dle = False
        if b == DLE:
            if self.mode in ("tx", "duplex"):
                self.received_voice.append(DLE)
        elif b == ETX and self.mode == "tx":
            self.mode = "cmd"
            self._out += self.result("OK")
        elif b in (ETX, ord("!"), ord("^")):
            self._finish_stream()

    def _finish_stream(self) -> None:
        if self.mode == "cmd":
            return
        if self.mode in ("rx", "duplex"):
            self._out += b"\x10\x10\x10\x03" if self.eos == "triple" else b"\x10\x03"
        self.mode = "cmd"
        self._out += self.result("OK")

    def _command(self, line: str) -> None:
        up = line.upper()
        if "AT" in up:  # like real modems, skip noise (e.g. a stray DLE code) before the AT prefix
            up = up[up.index("AT"):]
        self.commands.append(up)
        if not up.startswith("AT"):
            self._out += self.result("ERROR")
            return
        if up in self.ident:
            self._out += self.frame[0] + self.ident[up].encode() + self.frame[1] + self.result("OK")
            return
        if up == "ATZ":
            self.echo, self.numeric = self.default_echo, False
        elif up.startswith("ATE"):
            self.echo = up.endswith("1")
        elif up.startswith("ATV"):
            self.numeric = up.endswith("0")
        elif up.startswith("ATD"):
            self._out += self.result(self.dial_result)
            return
        elif up in ("AT+VLS=1", "ATA"):
            self._out += self.result(self.answer_result)
            return
        elif up in ("AT+VTR", "AT+VRX", "AT+VTX"):
            if up == "AT+VTR" and not self.vtr:
                self._out += self.result("ERROR")
                return
            self.mode = {"AT+VTR": "duplex", "AT+VRX": "rx", "AT+VTX": "tx"}[up]
            self._out += self.result("CONNECT")
            return
        elif up.startswith("ATI") or up.endswith("?"):
            self._out += self.result("ERROR")
            return
        self._out += self.result("OK")


class PtyPeer:
    """Runs a ScriptedModem on a pty (thread owned here; ``stop`` joins it). ``path`` opens like a tty."""

    def __init__(self, modem: ScriptedModem, link: Path | None = None) -> None:
        self.modem = modem
        self._master, slave = os.openpty()
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        self._slave = slave
        self.link = link
        if link is not None:
            link.unlink(missing_ok=True)
            link.symlink_to(self.path)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="pty-peer", daemon=True)

    def start(self) -> PtyPeer:
        self._thread.start()
        return self

    def with_modem(self, fn: object) -> None:
        """Run ``fn(modem)`` under the peer's lock (inject output from a test thread)."""
        with self._lock:
            fn(self.modem)  # type: ignore[operator]

    def _run(self) -> None:
        while not self._stop.is_set():
            r, _, _ = select.select([self._master], [], [], 0.01)
            out = b""
            with self._lock:
                if r:
                    try:
                        data = os.read(self._master, 4096)
                    except OSError:
                        return
                    out = self.modem.feed(data)
                out += self.modem.take()
            if out:
                try:
                    os.write(self._master, out)
                except OSError:
                    return

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.link is not None:
            self.link.unlink(missing_ok=True)
