"""Helpers for the location tests: the NMEA logs in data/ and sentence building with checksums."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).with_name("data")
LOGS = sorted(DATA.glob("*.nmea"))


def sentence(body: str) -> bytes:
    """``GPGGA,...`` → ``$GPGGA,...*CS\\r\\n``."""
    c = 0
    for ch in body:
        c ^= ord(ch)
    return f"${body}*{c:02X}\r\n".encode("ascii")
