"""Sans-I/O moved detection and handset confirmation of the box's dispatchable address.

The box's recorded address stays what 911 sends; this core decides when nobody can vouch for it any more.
Valid fixes displaced beyond ``threshold_m`` (plus both fixes' error estimates) from the reference for
``persist`` consecutive fixes, or a changed network fingerprint, mark the location *unconfirmed*: the
core returns :class:`ReportUnconfirmed` (the runtime sends ``location.unconfirmed``). On the next
off-hook :meth:`MovedDetector.offhook` returns the spoken prompt with the recorded address; the holder
presses 1 to confirm it or 2 to hear the next recorded address (handset only; the keys are chosen
per country so that neither starts an emergency string). Confirmation returns
:class:`ReportConfirmed` (``location.confirmed``: who, which address, when) and makes the current fix and
fingerprint the new reference.

States and events form an explicit table; an event illegal in a state raises UsageError.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from roamline.firmware.location.errors import UsageError
from roamline.firmware.location.fingerprint import Fingerprint
from roamline.firmware.location.fix import Fix, distance_m
from roamline.firmware.location.readback import address_text
from roamline.wire import civic


class State(StrEnum):
    CONFIRMED = "confirmed"
    UNCONFIRMED = "unconfirmed"
    PROMPTING = "prompting"  # unconfirmed, the spoken prompt is playing to an off-hook handset


_TABLE: dict[tuple[State, str], State] = {
    (State.CONFIRMED, "moved"): State.UNCONFIRMED,
    (State.CONFIRMED, "offhook"): State.CONFIRMED,  # nothing to ask
    (State.UNCONFIRMED, "moved"): State.UNCONFIRMED,  # already reported
    (State.UNCONFIRMED, "offhook"): State.PROMPTING,
    (State.PROMPTING, "moved"): State.PROMPTING,
    (State.PROMPTING, "next"): State.PROMPTING,
    (State.PROMPTING, "confirm"): State.CONFIRMED,
    (State.PROMPTING, "onhook"): State.UNCONFIRMED,  # hung up without confirming: ask again next time
}


@dataclass(frozen=True, slots=True)
class ReportUnconfirmed:
    at: float  # wall clock
    reason: str  # "moved 1234 m" / "network changed: gateway"
    distance_m: float | None = None
    fingerprint: Fingerprint | None = None


@dataclass(frozen=True, slots=True)
class ReportConfirmed:
    at: float
    by: str  # the holder's card id, or "handset" when no card is in
    address: int  # index into the recorded addresses
    civic: dict[str, str]


@dataclass(frozen=True, slots=True)
class Say:
    text: str  # the prompt to speak to the handset
    name: str = ""  # the prompt file it is made into ahead of time (``MovedDetector.prompt_texts``)


Action = ReportUnconfirmed | ReportConfirmed | Say


class MovedDetector:
    def __init__(self, addresses: list[dict[str, Any]], *, threshold_m: float = 200.0, persist: int = 3,
                 state: State = State.CONFIRMED, confirm_key: str = "1", next_key: str = "2") -> None:
        if not addresses:
            raise UsageError("moved detection needs at least one recorded address")
        if threshold_m <= 0 or persist < 1:
            raise UsageError("threshold_m must be > 0 and persist ≥ 1")
        if (len(confirm_key) != 1 or len(next_key) != 1 or confirm_key == next_key
                or not (confirm_key + next_key).isdigit()):
            raise UsageError("the confirm and next keys must be two different digits")
        self.confirm_key, self.next_key = confirm_key, next_key
        self._addresses = [civic.check_location(a) for a in addresses]
        self._threshold = threshold_m
        self._persist = persist
        self.state = state
        self.reference: Fix | None = None
        self.reference_net: Fingerprint | None = None
        self._latest: Fix | None = None
        self._latest_net: Fingerprint | None = None
        self._far = 0
        self._offered = 0
        self._holder = ""
        self.last_report: ReportUnconfirmed | None = None

    @property
    def addresses(self) -> list[dict[str, Any]]:
        return list(self._addresses)

    @property
    def confirmed(self) -> bool:
        return self.state is State.CONFIRMED

    def _step(self, event: str) -> None:
        nxt = _TABLE.get((self.state, event))
        if nxt is None:
            raise UsageError(f"location: {event!r} is illegal while {self.state}")
        self.state = nxt

    def _moved(self, wall: float, reason: str, dist: float | None) -> list[Action]:
        first = self.state is State.CONFIRMED
        self._step("moved")
        if not first:
            return []
        self.last_report = ReportUnconfirmed(wall, reason, dist, self._latest_net)
        return [self.last_report]

    # --- inputs ------------------------------------------------------------------------------------

    def on_fix(self, fix: Fix, wall: float) -> list[Action]:
        """A fix the validity policy accepted (callers pass only valid fixes)."""
        if fix.lat is None or fix.lon is None:
            raise UsageError("on_fix needs a fix with a position (judge it first)")
        self._latest = fix
        ref = self.reference
        if ref is None or ref.lat is None or ref.lon is None:
            self.reference = fix
            return []
        dist = distance_m(ref.lat, ref.lon, fix.lat, fix.lon)
        slack = (ref.error_m or 0.0) + (fix.error_m or 0.0)
        if dist <= self._threshold + slack:
            self._far = 0
            return []
        self._far += 1
        if self._far < self._persist:
            return []
        return self._moved(wall, f"moved {dist:.0f} m", dist)

    def on_fingerprint(self, fp: Fingerprint, wall: float) -> list[Action]:
        self._latest_net = fp
        if self.reference_net is None:
            self.reference_net = fp
            return []
        changed = fp.differs(self.reference_net)
        if not changed:
            return []
        return self._moved(wall, f"network changed: {', '.join(changed)}", None)

    # --- the handset flow --------------------------------------------------------------------------

    def _ask_text(self, index: int) -> str:
        where = address_text(self._addresses[index]) or civic.describe(self._addresses[index])
        more = f" Press {self.next_key} for the next recorded address." if len(self._addresses) > 1 else ""
        return (f"This phone may have moved. It is recorded at {where}. "
                f"Press {self.confirm_key} to confirm.{more}")

    def _thanks_text(self, index: int) -> str:
        where = address_text(self._addresses[index]) or civic.describe(self._addresses[index])
        return f"Thank you. The address is confirmed: {where}."

    def prompt_texts(self) -> dict[str, str]:
        """Every prompt this flow can say, by file name: made with espeak-ng at start, before any
        off-hook needs one (``moved-N`` asks about address N, ``moved-ok-N`` thanks for confirming it)."""
        out: dict[str, str] = {}
        for i in range(len(self._addresses)):
            out[f"moved-{i}"] = self._ask_text(i)
            out[f"moved-ok-{i}"] = self._thanks_text(i)
        return out

    def _prompt(self) -> Say:
        return Say(self._ask_text(self._offered), f"moved-{self._offered}")

    def offhook(self, holder: str = "") -> list[Action]:
        """The handset was lifted: the prompt to play, or nothing when the location is confirmed."""
        self._step("offhook")
        if self.state is not State.PROMPTING:
            return []
        self._offered, self._holder = 0, holder
        return [self._prompt()]

    def key(self, digit: str, wall: float) -> list[Action]:
        """A key pressed while the prompt plays: the confirm key (1) confirms the offered address, the next
        key (2) offers the next one. Other keys are not for us (the dial plan gets them; 911 is never held
        up by this prompt)."""
        if self.state is not State.PROMPTING:
            raise UsageError(f"location: a key is not expected while {self.state}")
        if digit == self.next_key and len(self._addresses) > 1:
            self._step("next")
            self._offered = (self._offered + 1) % len(self._addresses)
            return [self._prompt()]
        if digit != self.confirm_key:
            return []
        self._step("confirm")
        self.reference = self._latest or self.reference
        self.reference_net = self._latest_net or self.reference_net
        self._far = 0
        chosen = self._addresses[self._offered]
        return [ReportConfirmed(wall, self._holder or "handset", self._offered, dict(chosen["civic"])),
                Say(self._thanks_text(self._offered), f"moved-ok-{self._offered}")]

    def onhook(self) -> None:
        if self.state is State.PROMPTING:
            self._step("onhook")

    @property
    def offered(self) -> dict[str, Any]:
        """The address the prompt offers (the one 911 sends after confirmation)."""
        return self._addresses[self._offered]
