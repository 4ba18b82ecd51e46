"""The ``location`` object: a box's location snapshot as registrations and ``location.`` messages carry
it (docs/protocol.md §4.1). Both ends check it here, so the registry stores only well-formed snapshots.

    {"civic": {RFC 5139 elements}, "method": "installer" | "operator",   the address 911 sends
     "state": "confirmed" | "unconfirmed",
     "geo": {"lat", "lon", "error_m", "mode", "satellites", "at"} | null,  the latest valid GPS fix
     "network": {"public": address | null, "gateway": address | null} | null}
"""

from __future__ import annotations

import ipaddress
import math
from typing import Any

from roamline.wire import civic
from roamline.wire.errors import UsageError

STATES = ("confirmed", "unconfirmed")
_FIELDS = {"civic", "method", "state", "geo", "network"}
_GEO_FIELDS = {"lat", "lon", "error_m", "mode", "satellites", "at"}


def _number(obj: dict[str, Any], key: str, lo: float, hi: float, *, optional: bool = False) -> float | None:
    v = obj.get(key)
    if v is None and optional:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
        raise UsageError(f"location geo.{key} must be a number in [{lo:g}, {hi:g}]")
    return float(v)


def _integer(obj: dict[str, Any], key: str, lo: int, hi: int) -> int | None:
    v = obj.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise UsageError(f"location geo.{key} must be an integer in [{lo}, {hi}]")
    return v


def check_snapshot(obj: object) -> dict[str, Any]:
    """A well-formed location snapshot (a normalised copy), or UsageError naming the first problem."""
    if not isinstance(obj, dict):
        raise UsageError("a location must be an object")
    unknown = set(obj) - _FIELDS
    if unknown:
        raise UsageError(f"location has unknown fields: {', '.join(sorted(map(str, unknown)))}")
    out = civic.check_location({k: obj[k] for k in ("civic", "method") if k in obj})
    state = obj.get("state", "confirmed")
    if state not in STATES:
        raise UsageError(f"location state must be one of {', '.join(STATES)}")
    out["state"] = state
    geo = obj.get("geo")
    if geo is not None:
        if not isinstance(geo, dict) or set(geo) - _GEO_FIELDS:
            raise UsageError(f"location geo must be an object with {', '.join(sorted(_GEO_FIELDS))}")
        out["geo"] = {"lat": _number(geo, "lat", -90, 90), "lon": _number(geo, "lon", -180, 180),
                      "error_m": _number(geo, "error_m", 0, 100_000, optional=True),
                      "mode": _integer(geo, "mode", 2, 3), "satellites": _integer(geo, "satellites", 0, 255),
                      "at": _number(geo, "at", 0, 1e11)}
    else:
        out["geo"] = None
    net = obj.get("network")
    if net is not None:
        if not isinstance(net, dict) or set(net) - {"public", "gateway"}:
            raise UsageError("location network must be an object with public and gateway")
        for key in ("public", "gateway"):
            value = net.get(key)
            if value is not None:
                try:
                    ipaddress.ip_address(value)
                except ValueError:
                    raise UsageError(f"location network.{key} is not an IP address") from None
        out["network"] = {"public": net.get("public"), "gateway": net.get("gateway")}
    else:
        out["network"] = None
    return out
