"""Sans-I/O APDUs (ISO/IEC 7816-4): command encoding, command chaining, response chaining, status words.

``Exchange(command)`` turns one logical command into the frames to transmit: command chaining (CLA bit
10 on all but the last chunk of long data), then GET RESPONSE (INS C0) while the card answers 61xx, and a
resend with the right Le on 6Cxx. The caller moves bytes::

    ex = Exchange(cmd)
    while (frame := ex.next_frame()) is not None:
        ex.receive(transmit(frame))
    response = ex.result   # Response(data, sw); check(response) raises the typed error for its SW
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from roamline.firmware.card import errors
from roamline.firmware.errors import UsageError

SW_OK = 0x9000
MAX_SHORT_DATA = 255
MAX_RESPONSE = 65536  # total bytes accepted across GET RESPONSEs
MAX_ROUNDS = 300  # frames per exchange: stops a card that answers 61xx forever


@dataclass(frozen=True, slots=True)
class Command:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None  # expected response length 1..256; None = no Le field

    def __post_init__(self) -> None:
        for name in ("cla", "ins", "p1", "p2"):
            if not 0 <= getattr(self, name) <= 0xFF:
                raise UsageError(f"APDU {name} out of range")
        if self.le is not None and not 1 <= self.le <= 256:
            raise UsageError("Le must be 1..256 (short APDU)")

    def encode(self) -> bytes:
        """Short-form encoding; data must fit one APDU (use ``chunks`` for longer data)."""
        if len(self.data) > MAX_SHORT_DATA:
            raise UsageError("data longer than 255 bytes needs command chaining")
        out = bytes([self.cla, self.ins, self.p1, self.p2])
        if self.data:
            out += bytes([len(self.data)]) + self.data
        if self.le is not None:
            out += bytes([self.le & 0xFF])  # 256 encodes as 00
        return out

    def chunks(self, max_data: int = MAX_SHORT_DATA) -> list[Command]:
        """The command as a chain: every chunk but the last has CLA bit 0x10 and no Le."""
        if not 1 <= max_data <= MAX_SHORT_DATA:
            raise UsageError("chunk size must be 1..255")
        if len(self.data) <= max_data:
            return [self]
        parts = [self.data[i : i + max_data] for i in range(0, len(self.data), max_data)]
        head = [Command(self.cla | 0x10, self.ins, self.p1, self.p2, p) for p in parts[:-1]]
        return [*head, Command(self.cla, self.ins, self.p1, self.p2, parts[-1], self.le)]


@dataclass(frozen=True, slots=True)
class Response:
    data: bytes
    sw: int

    @property
    def ok(self) -> bool:
        return self.sw == SW_OK


def parse_response(raw: bytes) -> Response:
    if len(raw) < 2:
        raise errors.MalformedResponse(f"response of {len(raw)} bytes has no status word")
    return Response(bytes(raw[:-2]), int.from_bytes(raw[-2:], "big"))


_EXACT: dict[int, tuple[type[errors.CardStatusError], str]] = {
    0x6700: (errors.WrongLength, "wrong length"),
    0x6982: (errors.SecurityNotSatisfied, "security status not satisfied"),
    0x6983: (errors.PinBlocked, "PIN blocked"),
    0x6985: (errors.ConditionsNotSatisfied, "conditions of use not satisfied"),
    0x6A80: (errors.WrongData, "incorrect data"),
    0x6A82: (errors.NotFound, "not found"),
    0x6A88: (errors.NotFound, "referenced data not found"),
    0x6A86: (errors.WrongP1P2, "incorrect P1/P2"),
    0x6B00: (errors.WrongP1P2, "wrong parameters"),
    0x6D00: (errors.InsNotSupported, "instruction not supported"),
    0x6E00: (errors.ClaNotSupported, "class not supported"),
}


def error_for(sw: int) -> errors.CardStatusError:
    """The typed error for a non-9000 status word."""
    if sw in _EXACT:
        cls, text = _EXACT[sw]
        return cls(sw, text)
    if sw & 0xFFF0 == 0x63C0:
        return errors.WrongPin(sw)
    if sw >> 8 == 0x6C:
        return errors.WrongLength(sw, f"wrong Le, card has {sw & 0xFF or 256} bytes")
    return errors.CardStatusError(sw)


def check(response: Response) -> bytes:
    """The response data if the status is 9000; else raise the typed error."""
    if response.sw != SW_OK:
        raise error_for(response.sw)
    return response.data


class Exchange:
    """One logical command as a sequence of frames (sans-I/O). See the module docstring."""

    def __init__(
        self, command: Command, *, max_data: int = MAX_SHORT_DATA, max_response: int = MAX_RESPONSE
    ) -> None:
        self._chain = command.chunks(max_data)
        self._index = 0
        self._max_response = max_response
        self._data = bytearray()
        self._next: Command | None = self._chain[0]
        self._rounds = 0
        self._resent = False
        self.result: Response | None = None

    @property
    def done(self) -> bool:
        return self.result is not None

    def next_frame(self) -> bytes | None:
        """The next APDU to transmit, or None when the exchange is finished (see ``result``)."""
        if self._next is None:
            return None
        return self._next.encode()

    def receive(self, raw: bytes) -> None:
        """Feed the card's answer to the frame last returned by ``next_frame``."""
        sent = self._next
        if sent is None:
            raise UsageError("no frame is awaiting a response")
        self._rounds += 1
        if self._rounds > MAX_ROUNDS:
            raise errors.MalformedResponse("card keeps asking for more frames")
        resp = parse_response(raw)
        sw1, sw2 = resp.sw >> 8, resp.sw & 0xFF
        if self._index < len(self._chain) - 1:  # a non-final chunk of a command chain
            if resp.data or resp.sw != SW_OK:
                self._finish(Response(resp.data, resp.sw))  # the card refused the chain: report its SW
                return
            self._index += 1
            self._next = self._chain[self._index]
            return
        if sw1 == 0x61:
            self._append(resp.data)
            self._next = Command(0x00, 0xC0, 0x00, 0x00, le=sw2 or 256)
            return
        if sw1 == 0x6C and not self._resent and not resp.data:
            self._resent = True
            self._next = Command(sent.cla, sent.ins, sent.p1, sent.p2, sent.data, le=sw2 or 256)
            return
        self._append(resp.data)
        self._finish(Response(bytes(self._data), resp.sw))

    def _append(self, data: bytes) -> None:
        if len(self._data) + len(data) > self._max_response:
            raise errors.MalformedResponse(f"response longer than {self._max_response} bytes")
        self._data += data

    def _finish(self, response: Response) -> None:
        self.result = response
        self._next = None


Transmit = Callable[[bytes], bytes]


def transceive(transmit: Transmit, command: Command, *, max_data: int = MAX_SHORT_DATA) -> Response:
    """Run an Exchange over a blocking ``transmit(apdu) -> response`` function."""
    ex = Exchange(command, max_data=max_data)
    while (frame := ex.next_frame()) is not None:
        ex.receive(transmit(frame))
    assert ex.result is not None
    return ex.result
