"""Filter and schedule evaluation, pure: a holder's profile, the caller, ``now`` and a time zone in; one
:class:`Decision` out (docs/protocol.md §13.3). The router asks before any box rings.

Schedules are wall-clock local time in the zone given (the profile's own ``timezone`` when it names one,
else the box's), so "09:00–17:00" stays 09:00–17:00 across daylight-saving changes; a weekly window
whose end is not after its start runs over midnight into the next day; vacation periods are local
``start ≤ t < end``. A window on the day of a DST change counts wall-clock minutes: in the hour that is
skipped nothing is "now", in the hour that repeats both passes are.

Emergency call-backs (a call to a line or box that placed an emergency call within the last hour,
DESIGN §6.4) are never filtered: :func:`evaluate` answers ``ring`` for them whatever the profile says.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from roamline.wire.profile import Action, Filter, Profile, Refusal, Schedule, name_matches

CALLBACK_WINDOW_S = 3600.0
"""How long after an emergency call calls to its line or box bypass filters (DESIGN §6.4)."""

UTC = dt.UTC


@dataclass(frozen=True, slots=True)
class Caller:
    number: str | None = None  # E.164 or the digits the exchange sent; None: withheld / not sent
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    rule: str | None = None  # the filter that decided (None: no rule matched, or a call-back)
    refusal: Refusal = Refusal.SPOKEN
    forward_to: str | None = None
    callback: bool = False  # an emergency call-back: filters bypassed

    @property
    def rings(self) -> bool:
        return self.action is Action.RING


RING = Decision(Action.RING)


def zone(name: str) -> dt.tzinfo:
    """The zone called ``name`` (an IANA name), UTC for "" or an unknown name."""
    if not name:
        return UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return UTC


def local_now(now: float, tz: dt.tzinfo) -> dt.datetime:
    """Wall-clock local time at Unix time ``now`` in ``tz``, naive (what schedules are written in)."""
    return dt.datetime.fromtimestamp(now, tz).replace(tzinfo=None)


def schedule_active(schedule: Schedule, local: dt.datetime) -> bool:
    """Whether ``local`` (naive local wall time) falls in one of the schedule's windows or periods."""
    for p in schedule.periods:
        if p.start <= local < p.end:
            return True
    day, minute = local.weekday(), local.hour * 60 + local.minute
    for w in schedule.windows:
        if w.start < w.end:
            if day in w.days and w.start <= minute < w.end:
                return True
        else:  # over midnight: from start on a listed day until end the next day
            if day in w.days and minute >= w.start:
                return True
            if (day - 1) % 7 in w.days and minute < w.end:
                return True
    return False


def caller_matches(f: Filter, caller: Caller) -> bool:
    if f.any_caller:
        return True
    number = caller.number or ""
    if f.withheld and not number:
        return True
    if number and any(_number_has_prefix(number, p) for p in f.prefixes):
        return True
    name = caller.name or ""
    return bool(name) and any(name_matches(p, name) for p in f.names)


def _number_has_prefix(number: str, prefix: str) -> bool:
    """E.164 prefix match; a caller number without '+' (as some exchanges send it) is compared by digits."""
    if number.startswith("+"):
        return number.startswith(prefix)
    return number.startswith(prefix[1:])


def evaluate(
    profile: Profile, caller: Caller, now: float, tz: dt.tzinfo, *, callback: bool = False
) -> Decision:
    """The first filter whose caller pattern and schedule match decides; none: ring. ``tz`` is used when
    the profile names no time zone of its own. ``callback``: an emergency call-back, never filtered."""
    if callback:
        return Decision(Action.RING, callback=True)
    if not profile.filters:
        return RING
    local = local_now(now, zone(profile.timezone) if profile.timezone else tz)
    for f in profile.filters:
        if not caller_matches(f, caller):
            continue
        if f.schedule is not None:
            schedule = profile.schedule(f.schedule)
            if schedule is None or not schedule_active(schedule, local):
                continue
        return Decision(f.action, f.name, f.refusal, f.forward_to)
    return RING


def number_zone(e164: str | None) -> dt.tzinfo | None:
    """The time zone of a phone number's area when it has exactly one (phonenumbers' data), else None."""
    if not e164:
        return None
    import phonenumbers
    from phonenumbers import timezone as pn_timezone

    try:
        zones = pn_timezone.time_zones_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return None
    if len(zones) != 1 or zones[0].startswith("Etc/"):
        return None
    found = zone(zones[0])
    return None if found is UTC else found
