"""The running box service's published state, and what a health check makes of it (sans-I/O).

``roamline box run`` keeps one :class:`ServiceState` — the link (up or down, since when), each configured
peripheral (line, handset, card readers, GPS: open/answering or why not), the firmware (package version,
update slot and bundle version), a heartbeat — and publishes it as a small JSON document
(``encode``; the thin atomic writer is ``firmware.state_file``). ``roamline box health`` reads it back
(``decode``) and judges it (``assess``) instead of opening a second link with the box's identity (the
registry keeps only the newest connection per box, so a second link would knock the service's off).

Freshness uses the system-wide monotonic clock (``CLOCK_MONOTONIC``, shared by every process of one boot)
and the kernel's boot id: wall time on a Pi without a real-time clock jumps at boot when NTP syncs.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import msgspec
from msgspec import Meta
from msgspec.structs import replace

from roamline.firmware.errors import PeerError

FORMAT: Literal[1] = 1
Phase = Literal["starting", "running", "stopped"]
STALE_BEATS = 3.0  # a heartbeat older than this many periods (plus a second of slack) is stale


class _Model(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Immutable, unknown keys refused (a document from another format is not read half-way). No NaN or
    infinity: a NaN heartbeat is never stale (every comparison with it is false), and JSON has neither."""

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{name}: must be a finite number, not {value}")


class Link(_Model, frozen=True, kw_only=True):
    up: bool = False
    since: float = 0.0  # Unix seconds of the last change
    reason: str = "not connected yet"


class Peripheral(_Model, frozen=True, kw_only=True):
    ok: bool = False
    detail: str = "not open yet"
    since: float = 0.0
    required: bool = True  # counts for health (GPS does not: the recorded address is what 911 needs)


class Firmware(_Model, frozen=True, kw_only=True):
    package: str = ""  # the installed roamline version
    slot: str | None = None  # the update slot it runs from (ROAMLINE_SLOT, or its package path), if any
    version: str | None = None  # the bundle version of that slot (ROAMLINE_VERSION), if any


class ServiceState(_Model, frozen=True, kw_only=True):
    format: Literal[1] = FORMAT
    phase: Phase = "starting"
    pid: Annotated[int, Meta(ge=1)]
    boot_id: str = ""
    box_id: str = ""
    started_at: float = 0.0
    heartbeat_s: Annotated[float, Meta(gt=0, le=300)]  # box.toml's [state] heartbeat_s (larger: never stale)
    beat_monotonic: float = 0.0  # CLOCK_MONOTONIC at the last write
    beat_at: float = 0.0  # Unix seconds at the last write (for people)
    firmware: Firmware = Firmware()
    link: Link = Link()
    peripherals: dict[str, Peripheral] = msgspec.field(default_factory=dict)

    def beat(self, monotonic: float, wall: float) -> ServiceState:
        return replace(self, beat_monotonic=monotonic, beat_at=wall)

    def with_link(self, up: bool, reason: str, wall: float) -> ServiceState:
        if up == self.link.up and reason == self.link.reason:
            return self
        since = wall if up != self.link.up or not self.link.since else self.link.since
        return replace(self, link=Link(up=up, since=since, reason=reason))

    def with_peripheral(self, name: str, ok: bool, detail: str, wall: float, *,
                        required: bool = True) -> ServiceState:
        old = self.peripherals.get(name)
        if old is not None and (old.ok, old.detail, old.required) == (ok, detail, required):
            return self
        since = wall if old is None or old.ok != ok else old.since
        return replace(self, peripherals={
            **self.peripherals, name: Peripheral(ok=ok, detail=detail, since=since, required=required)})

    def with_phase(self, phase: Phase) -> ServiceState:
        return self if phase == self.phase else replace(self, phase=phase)


def slot_of(package_path: str) -> str | None:
    """The update slot a package path (symlinks resolved) lies in: ``…/slots/a/…`` → ``"a"``
    (``FileBootState``'s layout, which the image's update boot points the firmware's site at)."""
    parts = package_path.split("/")
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "slots" and parts[i + 1] in ("a", "b"):
            return parts[i + 1]
    return None


_ENCODER = msgspec.json.Encoder()


def encode(state: ServiceState) -> bytes:
    return _ENCODER.encode(state) + b"\n"


def decode(data: bytes) -> ServiceState:
    """The state in ``data``; a malformed document is a PeerError with a one-line reason."""
    from roamline.wire.typed import one_line as describe

    try:
        return msgspec.json.decode(data, type=ServiceState)
    except msgspec.ValidationError as exc:
        raise PeerError(one_line(f"malformed service state ({describe(exc, top='document')})")) from None
    except msgspec.DecodeError as exc:
        raise PeerError(one_line(f"malformed service state (document: {exc})")) from None


def one_line(text: str) -> str:
    """``text`` with control characters (a newline in a key or a detail) escaped: reasons are one line."""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class Verdict(_Model, frozen=True, kw_only=True):
    healthy: bool
    reason: str  # one line: "healthy" or what is wrong
    checks: dict[str, str]  # name → "ok: detail" / "failed: detail"


def assess(state: ServiceState, *, boot_id: str, monotonic: float, pid_alive: bool,
           expected_slot: str | None = None) -> Verdict:
    """Judge a service state read at ``monotonic`` (this boot's CLOCK_MONOTONIC) on the boot ``boot_id``.
    ``pid_alive``: whether the state's pid is a running process. ``expected_slot``: the update slot
    being checked (a service running another slot is not this firmware)."""
    checks: dict[str, str] = {}
    if state.phase == "stopped":
        return Verdict(healthy=False, reason="the box service has stopped", checks=checks)
    if boot_id and state.boot_id and boot_id != state.boot_id:
        return Verdict(healthy=False, reason="the service state is from an earlier boot", checks=checks)
    age = monotonic - state.beat_monotonic
    if not pid_alive:
        return Verdict(healthy=False, reason=f"the box service is gone (pid {state.pid} not running, "
                                             f"last heartbeat {age:.1f} s ago)", checks=checks)
    if age > STALE_BEATS * state.heartbeat_s + 1.0:
        return Verdict(healthy=False, reason=f"the service state is stale (last heartbeat {age:.1f} s ago, "
                                             f"every {state.heartbeat_s:g} s expected)", checks=checks)
    if expected_slot is not None and state.firmware.slot is None:
        return Verdict(healthy=False, reason="the box service does not run from an update slot "
                                             "(no ROAMLINE_SLOT, its package not under slots/X), "
                                             f"slot {expected_slot} is checked", checks=checks)
    if expected_slot is not None and state.firmware.slot != expected_slot:
        return Verdict(healthy=False, reason=f"the box service runs slot {state.firmware.slot}, "
                                             f"not slot {expected_slot}", checks=checks)
    checks["link"] = ("up" if state.link.up else "down") + f": {state.link.reason}"
    failed = [] if state.link.up else [f"link down ({state.link.reason})"]
    for name, p in sorted(state.peripherals.items()):
        checks[name] = ("ok" if p.ok else "failed") + f": {p.detail}"
        if p.required and not p.ok:
            failed.append(f"{name} {p.detail}")
    if state.phase == "starting":
        failed.insert(0, "the box service is still starting")
    return Verdict(healthy=not failed, reason=one_line("; ".join(failed)) or "healthy", checks=checks)


__all__ = ["Firmware", "Link", "Peripheral", "ServiceState", "Verdict", "assess", "decode", "encode",
           "slot_of"]
