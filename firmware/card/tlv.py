"""Strict, bounded BER-TLV (ISO/IEC 7816-4 §5.2 / SP 800-73-4) for card responses. Sans-I/O.

``TlvDecoder.feed(bytes)`` returns the complete top-level items seen so far; it may be fed one byte at a
time. Rules: tags of 1–3 bytes (a first byte 00 or FF is not a tag); lengths in short form or 81/82/83
long form (indefinite 80 and longer forms are rejected; non-minimal long forms are accepted because real
cards emit them); every value is at most ``max_value`` bytes. Any violation raises ``TlvError`` and the
decoder stays failed.
"""

from __future__ import annotations

from dataclasses import dataclass

from roamline.firmware.card.errors import MalformedResponse

MAX_VALUE = 16384  # larger than any PIV object we read (certificates are ~0.5–2 kB)
MAX_TAG_BYTES = 3


class TlvError(MalformedResponse):
    pass


@dataclass(frozen=True, slots=True)
class Tlv:
    tag: int
    value: bytes

    @property
    def constructed(self) -> bool:
        first = self.tag.to_bytes(max(1, (self.tag.bit_length() + 7) // 8), "big")[0]
        return bool(first & 0x20)

    def children(self, max_value: int = MAX_VALUE) -> list[Tlv]:
        return parse_all(self.value, max_value)


def _header(buf: bytes | bytearray, max_value: int) -> tuple[int, int, int] | None:
    """(tag, header length, value length) of the item at the start of ``buf``; None if incomplete."""
    if not buf:
        return None
    first = buf[0]
    if first in (0x00, 0xFF):
        raise TlvError(f"invalid tag byte {first:02X}")
    tag, i = first, 1
    if first & 0x1F == 0x1F:
        while True:
            if i >= len(buf):
                return None
            b = buf[i]
            tag = (tag << 8) | b
            i += 1
            if not b & 0x80:
                break
            if i >= MAX_TAG_BYTES:
                raise TlvError("tag longer than 3 bytes")
    if i >= len(buf):
        return None
    n = buf[i]
    i += 1
    if n & 0x80:
        k = n & 0x7F
        if k == 0:
            raise TlvError("indefinite length")
        if k > 3:
            raise TlvError("length field longer than 3 bytes")
        if i + k > len(buf):
            return None
        n = int.from_bytes(buf[i : i + k], "big")
        i += k
    if n > max_value:
        raise TlvError(f"value of {n} bytes exceeds the {max_value}-byte limit")
    return tag, i, n


class TlvDecoder:
    """Incremental top-level BER-TLV decoder; bounded to one item's header plus ``max_value`` bytes."""

    def __init__(self, max_value: int = MAX_VALUE) -> None:
        self.max_value = max_value
        self._buf = bytearray()
        self._failed: TlvError | None = None

    @property
    def pending(self) -> int:
        """Bytes of an incomplete item buffered."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Tlv]:
        if self._failed is not None:
            raise self._failed
        self._buf += data
        out: list[Tlv] = []
        try:
            while True:
                head = _header(self._buf, self.max_value)
                if head is None:
                    break
                tag, hlen, vlen = head
                if len(self._buf) < hlen + vlen:
                    break
                out.append(Tlv(tag, bytes(self._buf[hlen : hlen + vlen])))
                del self._buf[: hlen + vlen]
        except TlvError as exc:
            self._failed = exc
            self._buf.clear()
            raise
        return out

    def finish(self) -> None:
        """Declare the end of input: a partial item is an error."""
        if self._failed is not None:
            raise self._failed
        if self._buf:
            self._failed = TlvError(f"truncated TLV ({len(self._buf)} bytes left over)")
            raise self._failed


def parse_all(data: bytes, max_value: int = MAX_VALUE) -> list[Tlv]:
    """Every top-level item of a complete buffer."""
    dec = TlvDecoder(max_value)
    items = dec.feed(data)
    dec.finish()
    return items


def find(items: list[Tlv], tag: int) -> Tlv | None:
    for item in items:
        if item.tag == tag:
            return item
    return None


def require(items: list[Tlv], tag: int, where: str) -> bytes:
    item = find(items, tag)
    if item is None:
        raise TlvError(f"{where}: tag {tag:X} missing")
    return item.value


def encode_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    if n <= 0xFF:
        return bytes([0x81, n])
    if n <= 0xFFFF:
        return bytes([0x82]) + n.to_bytes(2, "big")
    if n <= 0xFFFFFF:
        return bytes([0x83]) + n.to_bytes(3, "big")
    raise ValueError("TLV value too long")


def encode(tag: int, value: bytes) -> bytes:
    return tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big") + encode_length(len(value)) + value
