"""Minimal BER-TLV for the virtual card (kept apart from firmware's parser on purpose: the card and the
client are two independent implementations of SP 800-73-4, so one's bug cannot hide the other's)."""

from __future__ import annotations

from roamline.hil.errors import PeerError


def length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    if n < 0x100:
        return bytes([0x81, n])
    if n < 0x10000:
        return bytes([0x82, n >> 8, n & 0xFF])
    raise ValueError("TLV value too long")


def tlv(tag: int, value: bytes) -> bytes:
    t = tag.to_bytes((tag.bit_length() + 7) // 8 or 1, "big")
    return t + length(len(value)) + value


class TlvFormatError(PeerError, ValueError):
    """The reader sent BER-TLV data that does not parse."""


def parse(data: bytes) -> list[tuple[int, bytes]]:
    """Top-level (tag, value) items of ``data``; raises TlvFormatError on anything malformed."""
    out: list[tuple[int, bytes]] = []
    i = 0
    while i < len(data):
        tag = data[i]
        i += 1
        if tag & 0x1F == 0x1F:
            for _ in range(2):
                if i >= len(data):
                    raise TlvFormatError("truncated tag")
                tag = (tag << 8) | data[i]
                i += 1
                if not data[i - 1] & 0x80:
                    break
            else:
                raise TlvFormatError("tag too long")
        if i >= len(data):
            raise TlvFormatError("missing length")
        n = data[i]
        i += 1
        if n & 0x80:
            k = n & 0x7F
            if k == 0 or k > 2 or i + k > len(data):
                raise TlvFormatError("bad length")
            n = int.from_bytes(data[i : i + k], "big")
            i += k
        if i + n > len(data):
            raise TlvFormatError("value overruns data")
        out.append((tag, data[i : i + n]))
        i += n
    return out
