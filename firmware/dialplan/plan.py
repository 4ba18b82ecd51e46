"""Country dial plans as data (``plans/<CC>.toml``) and the classifier over them (DESIGN §4.6).

Classification order: 1 emergency (the country's strings, and its test number), 2 location speed-dials
(``**N`` and the N11 codes by location), 3 feature codes (``*NN``), 4 personal speed-dials (``#N``),
5 numbers, normalised to E.164 through the box's country with ``phonenumbers``. Places 2–4 are reserved:
they classify, and later issues give them meaning. :func:`classify` is total: every string of keypad
digits gets exactly one :class:`Classified`, never an exception.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Annotated

from msgspec import Meta

from roamline.firmware.errors import UsageError
from roamline.wire.config import ConfigError, Frozen, load_toml

PLAN_DIR = Path(__file__).with_name("plans")
KEYS = frozenset("0123456789*#")
_DIGITS = re.compile(r"[0-9]+")


class CountryPlan(Frozen, frozen=True, kw_only=True):
    country: Annotated[str, Meta(pattern=r"^[A-Z]{2}\Z")]
    emergency: Annotated[tuple[str, ...], Meta(min_length=1)]
    emergency_test: tuple[str, ...] = ()
    local_services: tuple[str, ...] = ()
    location_prefix: str = "**"
    feature_prefix: str = "*"
    feature_digits: Annotated[int, Meta(ge=1, le=4)] = 2
    personal_prefix: str = "#"
    international_prefix: str
    trunk_prefix: str = ""
    national_digits: Annotated[int, Meta(ge=0, le=15)] = 0  # 0: open numbering (timeout or '#')
    local_digits: Annotated[int, Meta(ge=0, le=15)] = 0
    area_code_digits: Annotated[int, Meta(ge=0, le=5)] = 0

    def checked(self) -> CountryPlan:
        every = (*self.emergency, *self.emergency_test)
        for e in every:
            if not _DIGITS.fullmatch(e):
                raise UsageError(f"dial plan {self.country}: emergency string {e!r} must be digits")
            for other in every:
                if other != e and other.startswith(e):
                    raise UsageError(f"dial plan {self.country}: {e} would shadow {other}")
        return self


@cache
def load_plan(country: str) -> CountryPlan:
    path = PLAN_DIR / f"{country.upper()}.toml"
    if not path.is_file():
        have = ", ".join(sorted(p.stem for p in PLAN_DIR.glob("*.toml")))
        raise UsageError(f"no dial plan for country {country!r} (have {have})")
    try:
        return load_toml(CountryPlan, path).checked()
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


class Kind(Enum):
    EMERGENCY = "emergency"
    EMERGENCY_TEST = "emergency-test"
    LOCATION = "location-speed-dial"  # reserved
    FEATURE = "feature-code"  # reserved
    PERSONAL = "personal-speed-dial"  # reserved
    NUMBER = "number"
    INCOMPLETE = "incomplete"  # a prefix of something: wait for more digits
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class Classified:
    kind: Kind
    dialled: str  # what the user keyed (without a terminating '#')
    e164: str | None = None  # NUMBER: the normalised destination
    code: str | None = None  # LOCATION / FEATURE / PERSONAL: the code after the prefix
    complete: bool = True  # False: could still become something longer (dial on timeout, or '#')
    reason: str = ""  # INVALID: why

    @property
    def is_emergency(self) -> bool:
        return self.kind in (Kind.EMERGENCY, Kind.EMERGENCY_TEST)


class Classifier:
    """Classifies keyed digits for one box: its country plan and (for local dialling) its area code."""

    def __init__(self, plan: CountryPlan, *, line_number: str = "") -> None:
        self.plan = plan
        self.area_code = _area_code(plan, line_number)

    def classify(self, keys: str, *, final: bool = False) -> Classified:
        """What ``keys`` are so far. ``final``: no more digits will come (inter-digit timeout or '#')."""
        p = self.plan
        terminated = keys.endswith("#") and not keys.startswith(p.personal_prefix)
        if terminated:
            keys, final = keys[:-1], True
        if not keys:
            return Classified(Kind.INCOMPLETE if not final else Kind.INVALID, keys, complete=False,
                              reason="" if not final else "nothing dialled")
        if any(k not in KEYS for k in keys):
            return Classified(Kind.INVALID, keys, reason="not keypad digits")
        # 1. Emergency: exact strings dial at once, whatever comes (or came) around them.
        if keys in p.emergency:
            return Classified(Kind.EMERGENCY, keys)
        if keys in p.emergency_test:
            return Classified(Kind.EMERGENCY_TEST, keys)
        # 2. Location speed-dials: **N (one or more digits, so open) and the N11 codes.
        if keys.startswith(p.location_prefix):
            code = keys[len(p.location_prefix):]
            if not code:
                return self._incomplete(keys, final)
            if not code.isdigit():
                return Classified(Kind.INVALID, keys, reason="location speed-dials are digits")
            return Classified(Kind.LOCATION, keys, code=code, complete=final or len(code) >= 2)
        if keys in p.local_services:
            return Classified(Kind.LOCATION, keys, code=keys)
        # 3. Feature codes: *NN.
        if keys.startswith(p.feature_prefix):
            code = keys[len(p.feature_prefix):]
            if p.location_prefix.startswith(keys) and not final:
                return Classified(Kind.INCOMPLETE, keys, complete=False)
            if not code.isdigit() and code:
                return Classified(Kind.INVALID, keys, reason="feature codes are digits")
            if len(code) < p.feature_digits:
                return self._incomplete(keys, final)
            if len(code) > p.feature_digits:
                return Classified(Kind.INVALID, keys, reason="feature code too long")
            return Classified(Kind.FEATURE, keys, code=code)
        # 4. Personal speed-dials: #N.
        if keys.startswith(p.personal_prefix):
            code = keys[len(p.personal_prefix):]
            if not code:
                return self._incomplete(keys, final)
            if not code.isdigit():
                return Classified(Kind.INVALID, keys, reason="speed-dials are digits")
            return Classified(Kind.PERSONAL, keys, code=code, complete=final or len(code) >= 1)
        # 5. Numbers.
        if not keys.isdigit():
            return Classified(Kind.INVALID, keys, reason="* and # only start codes")
        if any(e.startswith(keys) for e in (*p.emergency, *p.emergency_test)) and not final:
            return Classified(Kind.INCOMPLETE, keys, complete=False)
        if not final and any(s.startswith(keys) and s != keys for s in p.local_services):
            return Classified(Kind.INCOMPLETE, keys, complete=False)
        return self._number(keys, final)

    def _incomplete(self, keys: str, final: bool) -> Classified:
        if final:
            return Classified(Kind.INVALID, keys, reason="incomplete code")
        return Classified(Kind.INCOMPLETE, keys, complete=False)

    def _number(self, keys: str, final: bool) -> Classified:
        p = self.plan
        if keys.startswith(p.international_prefix):
            rest = keys[len(p.international_prefix):]
            complete = final or len(rest) >= 15
            if not complete:
                return Classified(Kind.INCOMPLETE, keys, complete=False)
            return self._e164("+" + rest, keys)
        national = keys
        if p.trunk_prefix and p.national_digits and keys.startswith(p.trunk_prefix) and p.trunk_prefix != "0":
            national = keys[len(p.trunk_prefix):]  # NANP: 1 + ten digits
        complete = final or (p.national_digits > 0 and len(national) >= p.national_digits)
        if not complete:
            return Classified(Kind.INCOMPLETE, keys, complete=False)
        if p.local_digits and len(national) == p.local_digits and self.area_code:
            national = self.area_code + national
        return self._e164(national, keys)

    def _e164(self, text: str, keys: str) -> Classified:
        import phonenumbers

        try:
            n = phonenumbers.parse(text, self.plan.country)
        except phonenumbers.NumberParseException as exc:
            return Classified(Kind.INVALID, keys, reason=f"not a number: {exc}")
        if not phonenumbers.is_possible_number(n):
            return Classified(Kind.INVALID, keys, reason="not a possible number here")
        e164 = phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)
        return Classified(Kind.NUMBER, keys, e164=e164)


def _area_code(plan: CountryPlan, line_number: str) -> str:
    """The area code of the box's own line (for numbers dialled without one), "" if unknown."""
    if not line_number or not plan.area_code_digits:
        return ""
    import phonenumbers

    try:
        n = phonenumbers.parse(line_number, plan.country)
    except phonenumbers.NumberParseException:
        return ""
    national = str(n.national_number)
    if len(national) == plan.national_digits - (len(plan.trunk_prefix) if plan.trunk_prefix == "0" else 0):
        return national[:plan.area_code_digits]
    return ""
