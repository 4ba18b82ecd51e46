"""The one-line forms operators type for profile parts (``roamline cloud filters|speed-dials|profile``),
parsed into wire.profile JSON pieces. Each parser raises ProfileError (one line) on bad input; the final
profile is checked again whole by ``wire.profile.parse``.

- filter: ``NAME:ACTION[:KEY=VALUE,...]`` with keys ``prefixes`` (``+1900|+1976``), ``names``
  (``*SALES*|ACME*``), ``withheld`` (``yes``/``no``), ``schedule`` (a schedule's name), ``refusal``
  (``spoken``/``silent``, block only), ``to`` (E.164, forward only). Example:
  ``spam:block:names=*SALES*|*SPAM*,prefixes=+1900,refusal=silent``.
- schedule: ``NAME=ITEM[;ITEM…]``, an item a weekly window ``DAYS@HH:MM-HH:MM`` (days ``mon-fri``,
  ``sat,sun``, ``mon-sun``; an end before the start runs over midnight) or a period
  ``YYYY-MM-DDTHH:MM..YYYY-MM-DDTHH:MM`` (local time). Example: ``evenings=mon-fri@19:00-07:00``.
- speed-dial: ``KEY=E164[,LABEL]`` with KEY 2–9. Example: ``2=+15550400004,Pizza``.
- ring: ``E164=CADENCE`` (``us-dr1`` … ``us-dr4``).
"""

from __future__ import annotations

from typing import Any

from roamline.wire import profile as wp
from roamline.wire.profile import ProfileError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FILTER_EXAMPLE = "spam:block:names=*SALES*,prefixes=+1900"
SCHEDULE_EXAMPLE = "evenings=mon-fri@19:00-07:00"
SPEED_DIAL_EXAMPLE = "2=+15550400004,Pizza"
RING_EXAMPLE = "+15550100001=us-dr2"
LOCAL_DIAL_EXAMPLE = "1=pizza"


def filter_spec(text: str) -> dict[str, Any]:
    parts = text.split(":", 2)
    if len(parts) < 2:
        raise ProfileError(f"a filter is NAME:ACTION[:KEY=VALUE,...], like {FILTER_EXAMPLE}")
    out: dict[str, Any] = {"name": parts[0], "action": parts[1]}
    if len(parts) == 3 and parts[2]:
        for item in parts[2].split(","):
            key, eq, value = item.partition("=")
            if not eq or not value:
                raise ProfileError(f"filter option {item[:30]!r}: KEY=VALUE")
            if key in ("prefixes", "names"):
                out[key] = value.split("|")
            elif key == "withheld":
                if value not in ("yes", "no"):
                    raise ProfileError("filter option withheld: yes or no")
                out["withheld"] = value == "yes"
            elif key in ("schedule", "refusal"):
                out[key] = value
            elif key == "to":
                out["forward_to"] = value
            else:
                raise ProfileError(f"no filter option {key[:20]!r} (prefixes, names, withheld, schedule, "
                                   "refusal, to)")
    # each piece checked now (one line naming it); cross-references when the whole profile is parsed
    wp.parse({"filters": [{k: v for k, v in out.items() if k != "schedule"}]})
    if "schedule" in out:
        wp.parse({"schedules": [{"name": out["schedule"], "periods": [
            {"start": "2000-01-01T00:00", "end": "2000-01-02T00:00"}]}], "filters": [out]})
    return out


def _days(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        first, dash, last = part.partition("-")
        if first not in DAYS or (dash and last not in DAYS):
            raise ProfileError(f"days {text[:20]!r}: mon … sun, ranges like mon-fri, lists like sat,sun")
        a, b = DAYS.index(first), DAYS.index(last) if dash else DAYS.index(first)
        span = range(a, b + 1) if a <= b else [*range(a, 7), *range(b + 1)]
        out += [d for d in span if d not in out]
    return out


def schedule_spec(text: str) -> dict[str, Any]:
    name, eq, rest = text.partition("=")
    if not eq or not rest:
        raise ProfileError(f"a schedule is NAME=ITEM[;ITEM...], like {SCHEDULE_EXAMPLE}")
    windows: list[dict[str, Any]] = []
    periods: list[dict[str, Any]] = []
    for item in rest.split(";"):
        if ".." in item:
            start, _, end = item.partition("..")
            periods.append({"start": start, "end": end})
        elif "@" in item:
            days, _, hours = item.partition("@")
            start, dash, end = hours.partition("-")
            if not dash:
                raise ProfileError(f"window {item[:30]!r}: DAYS@HH:MM-HH:MM")
            windows.append({"days": _days(days), "start": start, "end": end})
        else:
            raise ProfileError(f"schedule item {item[:30]!r}: DAYS@HH:MM-HH:MM or START..END")
    out = {"name": name, "windows": windows, "periods": periods}
    wp.parse({"schedules": [out]})
    return out


def speed_dial_spec(text: str) -> dict[str, Any]:
    key, eq, rest = text.partition("=")
    if not eq:
        raise ProfileError(f"a speed-dial is KEY=E164[,LABEL], like {SPEED_DIAL_EXAMPLE}")
    number, _, label = rest.partition(",")
    out = {"key": key, "number": number, "label": label}
    wp.parse({"speed_dials": [out]})
    return out


def local_dial_spec(text: str) -> dict[str, Any]:
    code, eq, category = text.partition("=")
    if not eq:
        raise ProfileError(f"a location speed-dial is CODE=CATEGORY, like {LOCAL_DIAL_EXAMPLE}")
    out = {"code": code, "category": category}
    wp.parse({"local_dials": [out]})
    return out


def ring_spec(text: str) -> dict[str, Any]:
    number, eq, cadence = text.partition("=")
    if not eq:
        raise ProfileError(f"a ring is E164=CADENCE, like {RING_EXAMPLE}")
    out = {"number": number, "cadence": cadence}
    wp.parse({"rings": [out]})
    return out


def filter_name(text: str) -> str:
    wp.parse({"filters": [{"name": text, "action": "ring"}]})
    return text


def timezone(text: str) -> str:
    return wp.check_timezone(text)


def prefix(text: str) -> str:
    return wp.check_prefix(text, "prefix")
