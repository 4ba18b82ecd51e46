"""Whose call-back it is: an answering point calling back the number the cloud's SIP route presented
(DESIGN §6.4: "for an hour afterwards the answering point's call-back rings the originating box
directly, past filters, voicemail and missing cards"). Pure decision over the store; the SIP side is
:mod:`roamline.cloud.sos_uas`.

Only a number the route itself presented (the calls table, route ``sos``) is accepted, so the window
survives a registry restart and a number the cloud never presented is unknown (404); a known number
whose last emergency call is older than the window is closed (480).
"""

from __future__ import annotations

from dataclasses import dataclass

from roamline.cloud.filters import CALLBACK_WINDOW_S
from roamline.cloud.records import RegistryStore


@dataclass(frozen=True, slots=True)
class Verdict:
    """``box_id`` to ring (status 0), or the SIP failure to answer (``status``, ``reason``)."""

    box_id: str | None
    status: int = 0
    reason: str = ""
    since: float | None = None  # when the emergency call that opened the window was placed


def decide(store: RegistryStore, number: str, now: float, *, window_s: float = CALLBACK_WINDOW_S,
           connected: frozenset[str] | set[str] | None = None) -> Verdict:
    """Ring the originating box, or why not. ``connected``: the boxes linked now (None: not checked)."""
    last = store.last_sos_call_back(number)
    if last is None:
        return Verdict(None, 404, "Not Found")
    box_id, at = last
    if now - at > window_s or now < at - 60.0:
        return Verdict(None, 480, "Temporarily Unavailable", since=at)
    if connected is not None and box_id not in connected:
        return Verdict(None, 480, "Temporarily Unavailable", since=at)
    return Verdict(box_id, since=at)
