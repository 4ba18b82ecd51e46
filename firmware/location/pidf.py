"""The box's PIDF-LO: :mod:`roamline.wire.pidf` (shared with the cloud's emergency route) fed from a
:class:`~roamline.firmware.location.fix.Fix`. The checks are the wire module's."""

from __future__ import annotations

from roamline.firmware.location.errors import UsageError
from roamline.firmware.location.fix import Fix
from roamline.wire import pidf as wire_pidf
from roamline.wire.pidf import check_gml, schema_errors, validate

__all__ = ["build", "check_gml", "schema_errors", "validate"]


def build(*, entity: str, civic: dict[str, str], civic_at: float, fix: Fix | None = None,
          fix_wall: float | None = None, retention_s: float = 86400.0, lang: str = "en-US") -> bytes:
    """A PIDF-LO document (UTF-8 bytes). ``civic`` must be a dispatchable address (wire.civic rules);
    ``fix`` a valid fix (judged by the caller) and ``fix_wall`` its wall-clock time."""
    position = None
    if fix is not None:
        if fix.lat is None or fix.lon is None or fix_wall is None:
            raise UsageError("a geodetic tuple needs a fix with a position and its wall-clock time")
        position = wire_pidf.Position(lat=fix.lat, lon=fix.lon, error_m=fix.error_m, wall=fix_wall)
    return wire_pidf.build(entity=entity, civic=civic, civic_at=civic_at, position=position,
                           retention_s=retention_s, lang=lang)
