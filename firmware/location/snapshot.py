"""The box's location snapshot: the ``location`` object (wire.location) that registrations and
``location.`` messages carry, from what the box knows now."""

from __future__ import annotations

from typing import Any

from roamline.firmware.location.fingerprint import Fingerprint
from roamline.firmware.location.fix import Fix
from roamline.wire.location import check_snapshot


def snapshot(address: dict[str, Any] | None, *, confirmed: bool = True, fix: Fix | None = None,
             fix_wall: float | None = None, fingerprint: Fingerprint | None = None) -> dict[str, Any] | None:
    """``address`` is the recorded address 911 sends (``{"civic", "method"}``); ``fix`` a valid, fresh fix
    (or None: GPS lost) with its wall-clock time. None when the box has no recorded address."""
    if not address:
        return None
    obj: dict[str, Any] = {"civic": address["civic"], "method": address.get("method", "installer"),
                           "state": "confirmed" if confirmed else "unconfirmed", "geo": None, "network": None}
    if fix is not None and fix.lat is not None and fix.lon is not None and fix_wall is not None:
        obj["geo"] = {"lat": fix.lat, "lon": fix.lon, "error_m": fix.error_m,
                      "mode": fix.mode if fix.mode in (2, 3) else None, "satellites": fix.satellites,
                      "at": fix_wall}
    if fingerprint is not None:
        obj["network"] = fingerprint.as_dict()
    return check_snapshot(obj)
