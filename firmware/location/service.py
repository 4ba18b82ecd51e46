"""What the box knows about where it is, in one place: recorded addresses, the GPS tracker, the network
fingerprint and moved detection. Sans-I/O: fixes, fingerprints and handset events in (with the clock),
actions and link messages out. The box's composition root feeds it (GPS adapter, ``welcome``, the route
table) and asks it for the snapshot registrations carry and for the PIDF-LO of an emergency call.

Handset wiring (``firmware.core.moved_prompt``, used by the box core, which owns off-hook): on off-hook
it calls :meth:`offhook`, plays each :class:`~roamline.firmware.location.moved.Say` (prompts made ahead
of time from :meth:`prompt_texts`), passes the confirm/next keys to :meth:`key` while :attr:`prompting`
(any other key — 911 first of all — ends the prompt and goes to the dial plan), has the runtime send the
returned messages, and calls :meth:`onhook` on hang-up.
"""

from __future__ import annotations

from typing import Any

from roamline.firmware.location.fingerprint import Fingerprint, host_of
from roamline.firmware.location.fix import DEFAULT_POLICY, Fix, Policy
from roamline.firmware.location.moved import (
    Action,
    MovedDetector,
    ReportConfirmed,
    ReportUnconfirmed,
    State,
)
from roamline.firmware.location.snapshot import snapshot
from roamline.firmware.location.tracker import Tracker
from roamline.wire.clock import Clock
from roamline.wire.messages import LocationConfirmed, LocationUnconfirmed, Message


class LocationService:
    def __init__(self, addresses: list[dict[str, Any]] | tuple[dict[str, Any], ...], *, clock: Clock,
                 policy: Policy = DEFAULT_POLICY, threshold_m: float = 200.0, confirm_key: str = "1",
                 next_key: str = "2") -> None:
        self._clock = clock
        self.tracker = Tracker(policy)
        self.detector = (MovedDetector(list(addresses), threshold_m=threshold_m, confirm_key=confirm_key,
                                       next_key=next_key) if addresses else None)
        self._public: str | None = None
        self._gateway: str | None = None
        self._best: tuple[Fix, float] | None = None  # the latest valid fix and the wall time it came

    # --- inputs ------------------------------------------------------------------------------------

    def on_fix(self, fix: Fix) -> list[Message]:
        verdict = self.tracker.observe(fix, self._clock.monotonic())
        if not verdict.valid:
            return []
        self._best = (fix, self._clock.wall())
        return self._messages(self.detector.on_fix(fix, self._clock.wall()) if self.detector else [])

    def on_network(self, *, peer_address: str | None = None, gateway: str | None = None) -> list[Message]:
        """``peer_address`` from ``welcome`` (host:port), ``gateway`` from the route table."""
        if peer_address is not None:
            self._public = host_of(peer_address)
        if gateway is not None:
            self._gateway = gateway
        fp = self.fingerprint
        if self.detector is None or (fp.public is None and fp.gateway is None):
            return []
        return self._messages(self.detector.on_fingerprint(fp, self._clock.wall()))

    @property
    def prompting(self) -> bool:
        """The moved prompt is playing to an off-hook handset (its keys come here)."""
        return self.detector is not None and self.detector.state is State.PROMPTING

    def prompt_texts(self) -> dict[str, str]:
        """The moved prompts to make ahead of time (none with no recorded address)."""
        return self.detector.prompt_texts() if self.detector is not None else {}

    def offhook(self, holder: str = "") -> list[Action]:
        return self.detector.offhook(holder) if self.detector else []

    def key(self, digit: str) -> tuple[list[Action], list[Message]]:
        if self.detector is None:
            return [], []
        actions = self.detector.key(digit, self._clock.wall())
        return actions, self._messages(actions)

    def onhook(self) -> None:
        if self.detector is not None:
            self.detector.onhook()

    # --- outputs -----------------------------------------------------------------------------------

    @property
    def fingerprint(self) -> Fingerprint:
        return Fingerprint(public=self._public, gateway=self._gateway)

    def current_fix(self) -> tuple[Fix, float] | None:
        fix = self.tracker.current(self._clock.monotonic())
        if fix is None or self._best is None or self._best[0] is not fix:
            return None
        return self._best

    def snapshot(self) -> dict[str, Any] | None:
        """The ``location`` object for registrations (None when the box has no recorded address)."""
        if self.detector is None:
            return None
        cur = self.current_fix()
        return snapshot(self.detector.offered, confirmed=self.detector.confirmed,
                        fix=cur[0] if cur else None, fix_wall=cur[1] if cur else None,
                        fingerprint=self.fingerprint)

    def pidf_lo(self, entity: str) -> bytes | None:
        """The PIDF-LO an emergency call carries (None with no recorded address)."""
        if self.detector is None:
            return None
        from roamline.firmware.location import pidf  # xml.etree: only where a document is built

        cur = self.current_fix()
        return pidf.build(entity=entity, civic=self.detector.offered["civic"], civic_at=self._clock.wall(),
                          fix=cur[0] if cur else None, fix_wall=cur[1] if cur else None)

    def _messages(self, actions: list[Action]) -> list[Message]:
        out: list[Message] = []
        for a in actions:
            if isinstance(a, ReportUnconfirmed):
                out.append(LocationUnconfirmed(at=a.at, reason=a.reason, distance_m=a.distance_m,
                                               location=self.snapshot()))
            elif isinstance(a, ReportConfirmed):
                out.append(LocationConfirmed(at=a.at, by=a.by, address=a.address, civic=a.civic))
        return out
