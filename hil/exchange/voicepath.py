"""The voice data state of a simulated modem: DLE shielding both ways, sample coding, buffers, silence.

Sans-I/O: the modem hands it DTE bytes and line frames; it returns what to send and what to report.
"""

from __future__ import annotations

import numpy as np

from roamline.hil.exchange import audio
from roamline.hil.exchange.dialects import VoiceFormat

DLE, ETX, CAN, SUB = 0x10, 0x03, 0x18, 0x1A
TX_LIMIT = 8000 * 4  # samples buffered from the DTE (4 s); more is lost, as in a modem without flow control
SILENCE_RMS = 200.0


def shield(data: bytes) -> bytes:
    return data.replace(b"\x10", b"\x10\x10")


def take_frame(buf: list[np.ndarray]) -> tuple[np.ndarray, int]:
    """One 20 ms frame from the front of a queue of sample arrays (zero-padded) and how many were real."""
    out = np.zeros(audio.FRAME, dtype=np.int16)
    filled = 0
    while buf and filled < audio.FRAME:
        head = buf[0]
        k = min(audio.FRAME - filled, len(head))
        out[filled : filled + k] = head[:k]
        filled += k
        if k == len(head):
            buf.pop(0)
        else:
            buf[0] = head[k:]
    return (out, filled) if filled else (audio.SILENCE, 0)


class VoicePath:
    def __init__(self) -> None:
        self.fmt = VoiceFormat(1, "UNSIGNED PCM", 8, "u8")
        self.receiving = self.transmitting = False
        self.draining = False  # DTE sent DLE ETX after +VTX: play out, then OK
        self._dle = False
        self._partial = bytearray()
        self._buf: list[np.ndarray] = []
        self.tx_len = 0
        self._started = False
        self._underrun_reported = False
        self._voice_seen = False
        self._quiet_since: float | None = None

    def start(self, fmt: VoiceFormat, receive: bool, transmit: bool, now: float) -> None:
        self.fmt, self.receiving, self.transmitting = fmt, receive, transmit
        self.draining = self._dle = self._started = self._underrun_reported = self._voice_seen = False
        self._partial.clear()
        self._quiet_since = now

    def stop(self) -> None:
        self.receiving = self.transmitting = self.draining = False
        self.clear()

    def clear(self) -> None:
        self._buf.clear()
        self.tx_len = 0

    def dte_bytes(self, data: bytes) -> tuple[str | None, int]:
        """DTE bytes in the data state, up to and including an ending code. Returns (action, consumed):
        action "end" (DLE ETX), "abort" (DLE ! or DLE ^) or None (all consumed)."""
        i, n, plain = 0, len(data), bytearray()
        while i < n:
            if self._dle:
                self._dle = False
                b = data[i]
                i += 1
                if b == DLE:
                    plain.append(DLE)
                elif b == SUB:  # V.253: <DLE><SUB> stands for two DLE data bytes
                    plain += b"\x10\x10"
                elif b == ETX:
                    self._data(bytes(plain))
                    return "end", i
                elif b in (ord("!"), ord("^")):
                    self.clear()
                    return "abort", i
                elif b == CAN:
                    plain.clear()
                    self.clear()
                # other shielded codes (volume u/d, NUL keep-alive) are accepted and ignored
                continue
            j = data.find(DLE, i)
            if j < 0:
                plain += data[i:]
                break
            plain += data[i:j]
            self._dle = True
            i = j + 1
        self._data(bytes(plain))
        return None, n

    def dte_byte(self, b: int) -> str | None:
        return self.dte_bytes(bytes([b]))[0]

    def _data(self, data: bytes) -> None:
        if not data or not self.transmitting or self.draining:
            return
        self._partial.extend(data)
        width = audio.bytes_per_sample(self.fmt.encoding)
        usable = len(self._partial) // width * width
        if not usable:
            return
        chunk = bytes(self._partial[:usable])
        del self._partial[:usable]
        if self.tx_len + usable // width > TX_LIMIT:
            return
        samples = audio.decode(chunk, self.fmt.encoding)
        self._buf.append(samples)
        self.tx_len += len(samples)
        self._started = True
        self._underrun_reported = False

    def hear(self, frame: np.ndarray, now: float, sdi: int) -> tuple[bytes, str | None]:
        """A line frame while receiving: (shielded bytes for the DTE, silence/quiet event or None)."""
        if not self.receiving:
            return b"", None
        data = shield(audio.encode(frame, self.fmt.encoding))
        event = None
        if sdi:
            if audio.rms(frame) >= SILENCE_RMS:
                self._voice_seen, self._quiet_since = True, None
            elif self._quiet_since is None:
                self._quiet_since = now
            elif now - self._quiet_since >= sdi / 10.0:
                event = "q" if self._voice_seen else "s"
                self._quiet_since = now
        return data, event

    def speak(self) -> tuple[np.ndarray, str | None]:
        """The next frame for the line, and "u" once when the DTE's data ran out mid-stream."""
        if not (self.transmitting or self.draining):
            return audio.SILENCE, None
        if not self.tx_len:
            if self._started and not self._underrun_reported and not self.draining:
                self._underrun_reported = True
                return audio.SILENCE, "u"
            return audio.SILENCE, None
        frame, used = take_frame(self._buf)
        self.tx_len -= used
        return frame, None
