"""Voice data DLE shielding (V.253 §8): decode modem→host streams into voice bytes and DLE events,
encode host→modem voice with every byte value transparent.

Modem→host: ``DLE DLE`` is one 0x10 data byte, ``DLE ETX`` ends the stream, ``DLE x`` is an event.
End-of-stream style is a profile quirk: "single" modems send ``DLE ETX``; "triple" modems send
``DLE DLE DLE ETX`` (a shielded DLE that is not data, then ``DLE ETX``). A triple-style decoder holds
back a shielded 0x10 until it knows no ``DLE ETX`` follows, so data stays transparent either way and a
plain ``DLE ETX`` is still accepted.
"""

from __future__ import annotations

from typing import Literal

from roamline.firmware.line import events as ev

DLE = 0x10
ETX = 0x03
EosStyle = Literal["single", "triple"]

_DTMF = frozenset("0123456789*#ABCD")
_TONES: dict[str, ev.LineEvent] = {
    "b": ev.Busy(),
    "d": ev.DialTone(),
    "r": ev.Ringback(),
    "s": ev.Silence(),
    "q": ev.Quiet(),
    "l": ev.LoopCurrentLoss(),
    "w": ev.CallWaiting(),
    "c": ev.FaxTone(),
    "u": ev.TxUnderrun(),
}


def event_for(code: int) -> ev.LineEvent:
    """The typed event for the byte after a DLE (not DLE or ETX)."""
    ch = chr(code)
    if ch in _DTMF:
        return ev.DtmfDigit(ch)
    tone = _TONES.get(ch)
    if tone is not None:
        return tone
    if ch == "R":
        return ev.Ring(0)  # count filled in by the session
    return ev.OtherTone(ch if 0x20 < code < 0x7F else f"0x{code:02x}")


class DleDecoder:
    """Sans-I/O decoder of a voice stream from the modem. ``feed`` may split sequences anywhere."""

    __slots__ = ("_after_dle", "_held_dle", "_triple", "ended")

    def __init__(self, eos: EosStyle = "single") -> None:
        self._triple = eos == "triple"
        self._after_dle = False
        self._held_dle = False  # triple style: a shielded 0x10 that may be the start of end-of-stream
        self.ended = False

    def feed(self, data: bytes) -> list[ev.LineEvent]:
        """Decode ``data``: VoiceData runs and DLE events in order. Bytes after end-of-stream are
        returned as ``Noise`` (the modem should have gone back to command mode)."""
        out: list[ev.LineEvent] = []
        voice = bytearray()
        i, n = 0, len(data)
        while i < n:
            if self.ended:
                out.append(ev.Noise(data[i:].decode("latin-1")))
                break
            if not self._after_dle:
                j = data.find(DLE, i)
                end = n if j < 0 else j
                if end > i:
                    if self._held_dle:
                        voice.append(DLE)
                        self._held_dle = False
                    voice += data[i:end]
                if j < 0:
                    break
                self._after_dle = True
                i = j + 1
                continue
            code = data[i]
            i += 1
            self._after_dle = False
            if code == DLE:
                if self._held_dle:
                    voice.append(DLE)
                if self._triple:
                    self._held_dle = True
                else:
                    voice.append(DLE)
                continue
            if code == ETX:
                self._held_dle = False  # triple style: the held DLE was part of the end marker
                self.ended = True
            elif self._held_dle:
                voice.append(DLE)
                self._held_dle = False
            if voice:
                out.append(ev.VoiceData(bytes(voice)))
                voice = bytearray()
            out.append(ev.EndOfStream() if code == ETX else event_for(code))
        if voice:
            out.append(ev.VoiceData(bytes(voice)))
        return out

    def reset(self) -> None:
        self._after_dle = self._held_dle = self.ended = False


def shield(data: bytes) -> bytes:
    """Host→modem voice bytes with every 0x10 doubled."""
    return data.replace(b"\x10", b"\x10\x10")


def end_of_stream(eos: EosStyle = "single") -> bytes:
    """What ends a voice transmission towards the modem in this profile's style."""
    return b"\x10\x03" if eos == "single" else b"\x10\x10\x10\x03"


ABORT_RX = b"\x10!"  # V.253 receive abort
ABORT_TX = b"\x10\x18"  # DLE CAN: clear the transmit buffer
