"""The network fingerprint: the public address as the registry sees it (``welcome.peer_address``) and
the LAN's default gateway (from ``/proc/net/route``). A change of either suggests the box moved."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from roamline.firmware.location.errors import PeerError

ROUTE_FILE = "/proc/net/route"
_RTF_GATEWAY = 0x0002
_RTF_UP = 0x0001


@dataclass(frozen=True, slots=True)
class Fingerprint:
    public: str | None = None  # the address the registry saw us come from (no port)
    gateway: str | None = None  # default IPv4 gateway on the LAN

    def as_dict(self) -> dict[str, Any]:
        return {"public": self.public, "gateway": self.gateway}

    def differs(self, other: Fingerprint) -> list[str]:
        """Parts known on both sides that differ ("public", "gateway")."""
        pairs = (("public", self.public, other.public), ("gateway", self.gateway, other.gateway))
        return [name for name, mine, theirs in pairs if mine and theirs and mine != theirs]


def default_gateway(route_text: str) -> str | None:
    """The gateway of the lowest-metric up default route in ``/proc/net/route`` text, or None.

    Columns: Iface Destination Gateway Flags RefCnt Use Metric Mask …; addresses are little-endian hex.
    """
    lines = route_text.splitlines()
    if not lines or not lines[0].split() or lines[0].split()[0] != "Iface":
        raise PeerError("not /proc/net/route text (no header)")
    best: tuple[int, str] | None = None
    for line in lines[1:]:
        cols = line.split()
        if len(cols) < 8:
            continue
        try:
            dest, gw, flags, metric, mask = (int(cols[1], 16), int(cols[2], 16), int(cols[3], 16),
                                             int(cols[6]), int(cols[7], 16))
        except ValueError:
            raise PeerError(f"unreadable route line: {line[:60]!r}") from None
        if dest != 0 or mask != 0 or not (flags & _RTF_UP and flags & _RTF_GATEWAY) or gw == 0:
            continue
        addr = str(ipaddress.IPv4Address(gw.to_bytes(4, "little")))
        if best is None or metric < best[0]:
            best = (metric, addr)
    return best[1] if best else None


def host_of(peer_address: str) -> str | None:
    """``"203.0.113.5:4433"`` / ``"[2001:db8::1]:4433"`` → the address alone; ``""`` → None."""
    if not peer_address:
        return None
    text = peer_address
    if text.startswith("["):
        text = text[1:text.index("]")] if "]" in text else text[1:]
    elif text.count(":") == 1:
        text = text.split(":")[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise PeerError(f"peer address {peer_address[:60]!r} is not an IP address") from None


def read_gateway(path: str = ROUTE_FILE) -> str | None:
    """Adapter: read the route table (None where there is none, e.g. not Linux)."""
    try:
        with open(path, encoding="ascii") as f:
            return default_gateway(f.read())
    except FileNotFoundError:
        return None
