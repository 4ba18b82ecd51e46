"""The holder's profile: what a card holder's service carries to whichever box their card is in.

Typed frozen data plus one strict parser (docs/protocol.md §13). The registry keeps one profile per
account, sends it in ``registered`` and pushes it (``profile``) to the boxes where the holder's cards are
when it changes; the router reads its filters before any box rings; a box keeps it in its store while the
card is in (speed-dials, rings, message waiting) and wipes it when the card leaves.

- ``rings``: a cadence per number of the holder (``us-dr1`` … ``us-dr4``);
- ``schedules``: named weekly windows (business hours, evenings; a window whose end is before its start
  runs over midnight into the next day) and dated periods (vacation), in the holder's ``timezone``
  (an IANA name; ``""``: the time zone of the box the card is at, else UTC);
- ``filters``: ordered rules; the first whose caller pattern and schedule both match decides the call:
  ``ring``, ``block`` (``refusal`` ``spoken`` or ``silent``), ``forward`` (to ``forward_to``) or
  ``voicemail``. No rule matching means ``ring``. Emergency call-backs are never filtered (the router);
- ``speed_dials``: ``#2`` … ``#9`` → E.164 numbers (with a label);
- ``local_dials``: location speed-dials, ``**1`` … ``**99`` → a category of the registry's local-services
  directory (``pizza``): the registry rings the nearest such service whose radius covers the box the
  card is in (a form that shadows no real number: 912 is an area code);
- ``voicemail``: ``timeout_s`` (no answer → voicemail), ``greeting`` id, ``pin_hash`` (PBKDF2; the PIN
  itself is never stored or sent, and boxes get ``""``: :func:`for_box`; the registry checks a PIN);
- ``waiting``: the number of voicemail messages waiting.

:func:`parse` takes the JSON object (:func:`loads` the text, at most :data:`MAX_BYTES`) and raises only
:class:`ProfileError` (a :class:`~roamline.wire.errors.BadBody`, so the link answers ``bad-body``), with a
one-line reason naming the field. :meth:`Profile.to_json` is its inverse: ``parse(p.to_json()) == p``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import hashlib
import hmac
import json
import os
import re
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from roamline.wire.errors import BadBody, UsageError

PROFILE_VERSION = 1
MAX_BYTES = 16_384  # a profile's JSON, well inside one 64 KiB frame
MAX_RINGS = 8
MAX_FILTERS = 32
MAX_SCHEDULES = 8
MAX_WINDOWS = 16
MAX_PERIODS = 16
MAX_PATTERNS = 16
MAX_PATTERN_LEN = 64
MAX_NAME_LEN = 32
MAX_LABEL_LEN = 32
MAX_WAITING = 9999
VOICEMAIL_TIMEOUT_S = (5.0, 120.0)
DEFAULT_VOICEMAIL_TIMEOUT_S = 25.0
MAX_PERIOD_DAYS = 366
CADENCES = ("us-dr1", "us-dr2", "us-dr3", "us-dr4")
SPEED_DIAL_KEYS = tuple("23456789")
MAX_LOCAL_DIALS = 16
_LOCAL_CODE_RE = re.compile(r"[0-9]{1,2}")  # dialled after the plan's location prefix: **1 … **99
_CATEGORY_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")  # as the local-services directory's categories
PIN_ITERATIONS = 100_000
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_PREFIX_RE = re.compile(r"\+[0-9]{1,15}")
_HHMM_RE = re.compile(r"([01][0-9]|2[0-4]):([0-5][0-9])")
_LOCAL_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}")
_GREETING_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_TZ_RE = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}")
_PIN_HASH_RE = re.compile(r"pbkdf2-sha256\$([0-9]{4,7})\$([A-Za-z0-9+/=]{8,64})\$([A-Za-z0-9+/=]{44})")


class ProfileError(BadBody):
    """A profile that does not parse; the message names the field (one line)."""


class Action(StrEnum):
    RING = "ring"
    BLOCK = "block"
    FORWARD = "forward"
    VOICEMAIL = "voicemail"


class Refusal(StrEnum):
    SPOKEN = "spoken"  # the caller hears a refusal
    SILENT = "silent"  # nothing rings and nothing answers


@dataclass(frozen=True, slots=True)
class Ring:
    number: str  # one of the holder's numbers, E.164
    cadence: str  # CADENCES


@dataclass(frozen=True, slots=True)
class Window:
    """Weekly: on ``days`` (0 Monday … 6 Sunday) from ``start`` to ``end`` (minutes after midnight, local).
    ``end`` ≤ ``start`` runs over midnight: the window started on a listed day ends the next day."""

    days: tuple[int, ...]
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Period:
    """Dated, local time (naive ISO ``YYYY-MM-DDTHH:MM``): ``start`` ≤ t < ``end``."""

    start: _dt.datetime
    end: _dt.datetime


@dataclass(frozen=True, slots=True)
class Schedule:
    name: str
    windows: tuple[Window, ...] = ()
    periods: tuple[Period, ...] = ()


@dataclass(frozen=True, slots=True)
class Filter:
    """Matches when the caller matches (any of ``prefixes``, ``withheld``, ``names``; none given: every
    caller) and, if ``schedule`` names one, that schedule is active now."""

    name: str
    action: Action
    prefixes: tuple[str, ...] = ()  # E.164 prefixes, "+1900"
    withheld: bool = False  # callers with no number (private, unavailable, none sent)
    names: tuple[str, ...] = ()  # caller-name patterns: '*' any run, '?' one character, case-insensitive
    schedule: str | None = None
    refusal: Refusal = Refusal.SPOKEN  # block only
    forward_to: str | None = None  # forward only

    @property
    def any_caller(self) -> bool:
        return not self.prefixes and not self.withheld and not self.names


@dataclass(frozen=True, slots=True)
class SpeedDial:
    key: str  # "2" … "9": dialled as #2 … #9
    number: str  # E.164
    label: str = ""


@dataclass(frozen=True, slots=True)
class LocalDial:
    code: str  # "1" … "99": dialled as **1 … **99
    category: str  # a local-services category: the nearest such service near the box answers


@dataclass(frozen=True, slots=True)
class Voicemail:
    timeout_s: float = 25.0  # DEFAULT_VOICEMAIL_TIMEOUT_S
    greeting: str = "default"
    pin_hash: str = ""  # "" : no PIN set


@dataclass(frozen=True, slots=True)
class Profile:
    timezone: str = ""
    rings: tuple[Ring, ...] = ()
    schedules: tuple[Schedule, ...] = ()
    filters: tuple[Filter, ...] = ()
    speed_dials: tuple[SpeedDial, ...] = ()
    local_dials: tuple[LocalDial, ...] = ()
    voicemail: Voicemail = field(default_factory=Voicemail)
    waiting: int = 0

    def schedule(self, name: str) -> Schedule | None:
        return next((s for s in self.schedules if s.name == name), None)

    def speed_dial(self, key: str) -> SpeedDial | None:
        return next((d for d in self.speed_dials if d.key == key), None)

    def local_dial(self, code: str) -> LocalDial | None:
        return next((d for d in self.local_dials if d.code == code), None)

    def cadence_for(self, number: str) -> str | None:
        return next((r.cadence for r in self.rings if r.number == number), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "v": PROFILE_VERSION,
            "timezone": self.timezone,
            "rings": [{"number": r.number, "cadence": r.cadence} for r in self.rings],
            "schedules": [
                {
                    "name": s.name,
                    "windows": [{"days": list(w.days), "start": _hhmm(w.start), "end": _hhmm(w.end)}
                                for w in s.windows],
                    "periods": [{"start": p.start.strftime("%Y-%m-%dT%H:%M"),
                                 "end": p.end.strftime("%Y-%m-%dT%H:%M")} for p in s.periods],
                }
                for s in self.schedules
            ],
            "filters": [_filter_json(f) for f in self.filters],
            "speed_dials": [{"key": d.key, "number": d.number, "label": d.label} for d in self.speed_dials],
            "local_dials": [{"code": d.code, "category": d.category} for d in self.local_dials],
            "voicemail": {"timeout_s": self.voicemail.timeout_s, "greeting": self.voicemail.greeting,
                          "pin_hash": self.voicemail.pin_hash},
            "waiting": self.waiting,
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), separators=(",", ":"), ensure_ascii=False)


EMPTY = Profile()


def _filter_json(f: Filter) -> dict[str, Any]:
    out: dict[str, Any] = {"name": f.name, "action": f.action.value}
    if f.prefixes:
        out["prefixes"] = list(f.prefixes)
    if f.withheld:
        out["withheld"] = True
    if f.names:
        out["names"] = list(f.names)
    if f.schedule is not None:
        out["schedule"] = f.schedule
    if f.action is Action.BLOCK:
        out["refusal"] = f.refusal.value
    if f.forward_to is not None:
        out["forward_to"] = f.forward_to
    return out


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# --- parsing -----------------------------------------------------------------------------------------


def loads(data: str | bytes) -> Profile:
    """A profile from its JSON text (at most MAX_BYTES)."""
    if len(data) > MAX_BYTES:
        raise ProfileError(f"profile: more than {MAX_BYTES} bytes")
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        obj = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise ProfileError(f"profile: not JSON: {str(exc).splitlines()[0][:80]}") from None
    return parse(obj)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse(obj: object) -> Profile:
    """A profile from its JSON object; ``{}`` is the empty profile. Raises ProfileError only."""
    o = _obj(obj, "profile", {"v", "timezone", "rings", "schedules", "filters", "speed_dials", "local_dials",
                              "voicemail", "waiting"})
    v = o.get("v", PROFILE_VERSION)
    if type(v) is not int or v != PROFILE_VERSION:
        raise ProfileError(f"profile.v: must be {PROFILE_VERSION}")
    tz = _str(o.get("timezone", ""), "profile.timezone", 64, empty=True)
    if tz:
        check_timezone(tz, "profile.timezone")
    rings = tuple(_ring(x, f"rings[{i}]")
                  for i, x in enumerate(_list(o.get("rings", []), "rings", MAX_RINGS)))
    _unique([r.number for r in rings], "rings", "number")
    schedules = tuple(_schedule(x, f"schedules[{i}]")
                      for i, x in enumerate(_list(o.get("schedules", []), "schedules", MAX_SCHEDULES)))
    _unique([s.name for s in schedules], "schedules", "name")
    filters = tuple(_filter(x, f"filters[{i}]")
                    for i, x in enumerate(_list(o.get("filters", []), "filters", MAX_FILTERS)))
    _unique([f.name for f in filters], "filters", "name")
    names = {s.name for s in schedules}
    for i, f in enumerate(filters):
        if f.schedule is not None and f.schedule not in names:
            raise ProfileError(f"filters[{i}].schedule: no schedule {f.schedule!r}")
    dials = tuple(_speed_dial(x, f"speed_dials[{i}]")
                  for i, x in enumerate(_list(o.get("speed_dials", []), "speed_dials", len(SPEED_DIAL_KEYS))))
    _unique([d.key for d in dials], "speed_dials", "key")
    local = tuple(_local_dial(x, f"local_dials[{i}]")
                  for i, x in enumerate(_list(o.get("local_dials", []), "local_dials", MAX_LOCAL_DIALS)))
    _unique([d.code for d in local], "local_dials", "code")
    vm = _voicemail(o.get("voicemail", {}), "voicemail")
    waiting = o.get("waiting", 0)
    if type(waiting) is not int or not 0 <= waiting <= MAX_WAITING:
        raise ProfileError(f"waiting: must be an integer from 0 to {MAX_WAITING}")
    return Profile(timezone=tz, rings=rings, schedules=schedules, filters=filters, speed_dials=dials,
                   local_dials=local, voicemail=vm, waiting=waiting)


def _obj(x: object, where: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(x, dict):
        raise ProfileError(f"{where}: must be an object")
    for k in x:
        if not isinstance(k, str) or k not in allowed:
            raise ProfileError(f"{where}: unknown field {str(k)[:40]!r}")
    return x


def _list(x: object, where: str, most: int) -> list[Any]:
    if not isinstance(x, list):
        raise ProfileError(f"{where}: must be a list")
    if len(x) > most:
        raise ProfileError(f"{where}: at most {most} entries")
    return x


def _str(x: object, where: str, most: int, *, empty: bool = False) -> str:
    if not isinstance(x, str):
        raise ProfileError(f"{where}: must be a string")
    if (not x and not empty) or len(x) > most:
        raise ProfileError(f"{where}: must be {'0' if empty else '1'}–{most} characters")
    if any(unicodedata.category(c)[0] == "C" for c in x):
        raise ProfileError(f"{where}: control or format characters are not allowed")
    return x


def _unique(values: list[str], where: str, what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ProfileError(f"{where}: {what} {value!r} appears twice")
        seen.add(value)


def _name(x: object, where: str) -> str:
    s = _str(x, where, MAX_NAME_LEN)
    if _NAME_RE.fullmatch(s) is None:
        raise ProfileError(f"{where}: must be lowercase letters, digits, '-' or '_' (1–32)")
    return s


def _e164(x: object, where: str) -> str:
    from roamline.wire.validate import check_e164

    s = _str(x, where, 16)
    try:
        return check_e164(s)
    except UsageError as exc:
        raise ProfileError(f"{where}: {exc}") from None


def _bool(x: object, where: str) -> bool:
    if type(x) is not bool:
        raise ProfileError(f"{where}: must be true or false")
    return x


def check_timezone(name: str, where: str = "timezone") -> str:
    """An IANA time zone name that zoneinfo knows (raises ProfileError otherwise)."""
    import zoneinfo

    if len(name) > 64 or _TZ_RE.fullmatch(name) is None:
        raise ProfileError(f"{where}: not a time zone name like America/Chicago")
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ProfileError(f"{where}: no time zone {name!r}") from None
    return name


def _ring(x: object, where: str) -> Ring:
    o = _obj(x, where, {"number", "cadence"})
    cadence = _str(o.get("cadence"), f"{where}.cadence", 16)
    if cadence not in CADENCES:
        raise ProfileError(f"{where}.cadence: must be one of {', '.join(CADENCES)}")
    return Ring(_e164(o.get("number"), f"{where}.number"), cadence)


def minutes(text: object, where: str) -> int:
    """'HH:MM' (00:00 … 24:00) as minutes after midnight."""
    s = _str(text, where, 5)
    m = _HHMM_RE.fullmatch(s)
    if m is None:
        raise ProfileError(f"{where}: must be HH:MM (00:00–24:00)")
    value = int(m.group(1)) * 60 + int(m.group(2))
    if value > 24 * 60:
        raise ProfileError(f"{where}: must be HH:MM (00:00–24:00)")
    return value


def _window(x: object, where: str) -> Window:
    o = _obj(x, where, {"days", "start", "end"})
    days = _list(o.get("days"), f"{where}.days", 7)
    if not days or any(type(d) is not int or not 0 <= d <= 6 for d in days) or len(set(days)) != len(days):
        raise ProfileError(f"{where}.days: 1–7 distinct integers 0 (Monday) … 6 (Sunday)")
    start, end = minutes(o.get("start"), f"{where}.start"), minutes(o.get("end"), f"{where}.end")
    if start == 24 * 60:
        raise ProfileError(f"{where}.start: 24:00 is no start (use 00:00)")
    if start == end % (24 * 60):
        raise ProfileError(f"{where}: start and end are the same time (an empty or whole-day window)")
    return Window(tuple(sorted(days)), start, end)


def local_time(text: object, where: str) -> _dt.datetime:
    s = _str(text, where, 16)
    if _LOCAL_RE.fullmatch(s) is None:
        raise ProfileError(f"{where}: must be YYYY-MM-DDTHH:MM (local time)")
    try:
        return _dt.datetime.strptime(s, "%Y-%m-%dT%H:%M")
    except ValueError:
        raise ProfileError(f"{where}: no such date or time {s!r}") from None


def _period(x: object, where: str) -> Period:
    o = _obj(x, where, {"start", "end"})
    start, end = local_time(o.get("start"), f"{where}.start"), local_time(o.get("end"), f"{where}.end")
    if end <= start:
        raise ProfileError(f"{where}: end must be after start")
    if end - start > _dt.timedelta(days=MAX_PERIOD_DAYS):
        raise ProfileError(f"{where}: longer than {MAX_PERIOD_DAYS} days")
    return Period(start, end)


def _schedule(x: object, where: str) -> Schedule:
    o = _obj(x, where, {"name", "windows", "periods"})
    windows = tuple(_window(w, f"{where}.windows[{i}]")
                    for i, w in enumerate(_list(o.get("windows", []), f"{where}.windows", MAX_WINDOWS)))
    periods = tuple(_period(p, f"{where}.periods[{i}]")
                    for i, p in enumerate(_list(o.get("periods", []), f"{where}.periods", MAX_PERIODS)))
    if not windows and not periods:
        raise ProfileError(f"{where}: needs windows or periods")
    return Schedule(_name(o.get("name"), f"{where}.name"), windows, periods)


def check_pattern(text: object, where: str) -> str:
    s = _str(text, where, MAX_PATTERN_LEN)
    if not s.strip():
        raise ProfileError(f"{where}: a name pattern must not be blank")
    return s


def check_prefix(text: object, where: str) -> str:
    s = _str(text, where, 16)
    if _PREFIX_RE.fullmatch(s) is None:
        raise ProfileError(f"{where}: a number prefix is '+' and 1–15 digits, like +1900")
    return s


def _filter(x: object, where: str) -> Filter:
    o = _obj(x, where, {"name", "action", "prefixes", "withheld", "names", "schedule", "refusal",
                        "forward_to"})
    name = _name(o.get("name"), f"{where}.name")
    raw = _str(o.get("action"), f"{where}.action", 16)
    try:
        action = Action(raw)
    except ValueError:
        raise ProfileError(f"{where}.action: must be one of {', '.join(a.value for a in Action)}") from None
    prefixes = tuple(check_prefix(p, f"{where}.prefixes[{i}]")
                     for i, p in enumerate(_list(o.get("prefixes", []), f"{where}.prefixes", MAX_PATTERNS)))
    names = tuple(check_pattern(p, f"{where}.names[{i}]")
                  for i, p in enumerate(_list(o.get("names", []), f"{where}.names", MAX_PATTERNS)))
    withheld = _bool(o.get("withheld", False), f"{where}.withheld")
    schedule = None if o.get("schedule") is None else _name(o.get("schedule"), f"{where}.schedule")
    refusal = Refusal.SPOKEN
    if "refusal" in o:
        if action is not Action.BLOCK:
            raise ProfileError(f"{where}.refusal: only a block has a refusal")
        try:
            refusal = Refusal(_str(o["refusal"], f"{where}.refusal", 16))
        except ValueError:
            raise ProfileError(f"{where}.refusal: must be spoken or silent") from None
    forward_to = None
    if action is Action.FORWARD:
        forward_to = _e164(o.get("forward_to"), f"{where}.forward_to")
    elif o.get("forward_to") is not None:
        raise ProfileError(f"{where}.forward_to: only a forward has a number to forward to")
    return Filter(name, action, prefixes, withheld, names, schedule, refusal, forward_to)


def _speed_dial(x: object, where: str) -> SpeedDial:
    o = _obj(x, where, {"key", "number", "label"})
    key = _str(o.get("key"), f"{where}.key", 1)
    if key not in SPEED_DIAL_KEYS:
        raise ProfileError(f"{where}.key: must be one of 2–9 (dialled #2 … #9)")
    label = _str(o.get("label", ""), f"{where}.label", MAX_LABEL_LEN, empty=True)
    return SpeedDial(key, _e164(o.get("number"), f"{where}.number"), label)


def _local_dial(x: object, where: str) -> LocalDial:
    o = _obj(x, where, {"code", "category"})
    code = _str(o.get("code"), f"{where}.code", 2)
    if _LOCAL_CODE_RE.fullmatch(code) is None:
        raise ProfileError(f"{where}.code: must be 1–2 digits (dialled **1 … **99)")
    category = _str(o.get("category"), f"{where}.category", 32)
    if _CATEGORY_RE.fullmatch(category) is None:
        raise ProfileError(f"{where}.category: a lowercase word like pizza or city-services")
    return LocalDial(code, category)


def _voicemail(x: object, where: str) -> Voicemail:
    o = _obj(x, where, {"timeout_s", "greeting", "pin_hash"})
    timeout = o.get("timeout_s", DEFAULT_VOICEMAIL_TIMEOUT_S)
    lo, hi = VOICEMAIL_TIMEOUT_S
    if type(timeout) not in (int, float) or not lo <= timeout <= hi:  # type(): True is no number
        raise ProfileError(f"{where}.timeout_s: must be a number of seconds from {lo:g} to {hi:g}")
    greeting = _str(o.get("greeting", "default"), f"{where}.greeting", 64)
    if _GREETING_RE.fullmatch(greeting) is None:
        raise ProfileError(f"{where}.greeting: letters, digits, '.', '_' or '-' (1–64)")
    pin_hash = _str(o.get("pin_hash", ""), f"{where}.pin_hash", 160, empty=True)
    if pin_hash and _PIN_HASH_RE.fullmatch(pin_hash) is None:
        raise ProfileError(f"{where}.pin_hash: not a PIN hash (pbkdf2-sha256$N$SALT$HASH)")
    return Voicemail(float(timeout), greeting, pin_hash)


# --- PINs --------------------------------------------------------------------------------------------


PIN_LENGTH = (4, 8)
EMERGENCY_STARTS = ("000", "110", "112", "911", "999")
"""Every emergency string of the box dial plans (firmware/dialplan/plans): a PIN may not begin with one,
since those keys dial the emergency services at once even during the PIN prompt (a card roams)."""


def check_voicemail_pin(pin: str) -> str:
    """A voicemail PIN as the holder may set it: 4–8 ASCII digits, not beginning with an emergency string.
    The refusal never repeats the PIN."""
    lo, hi = PIN_LENGTH
    if not (lo <= len(pin) <= hi) or not pin.isascii() or not pin.isdigit():
        raise ProfileError(f"voicemail PIN: must be {lo}–{hi} digits")
    if pin.startswith(EMERGENCY_STARTS):
        raise ProfileError("voicemail PIN: must not begin with an emergency number "
                           f"({', '.join(EMERGENCY_STARTS)}): those keys call the emergency services")
    return pin


def for_box(obj: dict[str, Any]) -> dict[str, Any]:
    """The profile JSON as the registry sends it to boxes: without the PIN hash (``pin_hash`` ``""``; the
    registry checks PINs itself, ``voicemail.pin``), so no box or box store ever holds it."""
    vm = obj.get("voicemail")
    if not isinstance(vm, dict) or not vm.get("pin_hash"):
        return obj
    return {**obj, "voicemail": {**vm, "pin_hash": ""}}


def hash_pin(pin: str, *, salt: bytes | None = None, iterations: int = PIN_ITERATIONS) -> str:
    """The stored form of a voicemail PIN (4–8 digits): PBKDF2-HMAC-SHA256 with a random salt."""
    check_voicemail_pin(pin)
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode("ascii"), salt, iterations)
    return f"pbkdf2-sha256${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_pin(pin: str, pin_hash: str) -> bool:
    """Whether ``pin`` is the PIN ``pin_hash`` was made from (constant-time compare)."""
    m = _PIN_HASH_RE.fullmatch(pin_hash)
    if m is None or not pin.isascii():
        return False
    try:
        salt, want = base64.b64decode(m.group(2), validate=True), base64.b64decode(m.group(3), validate=True)
    except binascii.Error:
        return False
    got = hashlib.pbkdf2_hmac("sha256", pin.encode("ascii"), salt, int(m.group(1)))
    return hmac.compare_digest(got, want)


# --- name patterns -----------------------------------------------------------------------------------


def name_matches(pattern: str, name: str) -> bool:
    """Glob match, case-insensitive: '*' any run of characters, '?' exactly one. Linear-time (no regex:
    a hostile pattern cannot make it backtrack)."""
    p, s = pattern.casefold(), name.casefold()
    i = j = 0
    star, mark = -1, 0
    while j < len(s):
        if i < len(p) and (p[i] == "?" or p[i] == s[j]):
            i, j = i + 1, j + 1
        elif i < len(p) and p[i] == "*":
            star, mark = i, j
            i += 1
        elif star >= 0:
            i, mark = star + 1, mark + 1
            j = mark
        else:
            return False
    while i < len(p) and p[i] == "*":
        i += 1
    return i == len(p)
