"""Read-only questions about the registry's state, answered from the store alone.

Shared by the registry core (which answers them for boxes) and the operator commands (which act on the
registry host's store directly, with the registry running or not).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from roamline.cloud.records import RegistryStore


@dataclass(frozen=True, slots=True)
class WhereEntry:
    """One place a number rings now: a live registration of a card of an account subscribed to it."""

    box_id: str
    account_id: str
    holder: str
    card_id: str
    registration_id: str
    since: float
    lease_expiry: float
    location: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def where(store: RegistryStore, number: str, now: float) -> list[WhereEntry]:
    """Every box where ``number`` rings at ``now``: leases still running, card and box not revoked.

    A lapsed lease counts as gone even before the sweeper has ended it, so a dead box never swallows a
    call in the gap between its lease expiring and the next sweep.
    """
    out: list[WhereEntry] = []
    for account_id in store.accounts_for_number(number):
        account = store.get_account(account_id)
        holder = account.name if account is not None else account_id
        for reg in store.active_registrations_for(account_id):
            if reg.lease_expiry <= now:
                continue
            card = store.get_card(reg.card_id)
            box = store.get_box(reg.box_id)
            if card is None or card.revoked or box is None or box.revoked:
                continue
            # The box's snapshot at registration if it sent one, else the address its installer recorded.
            location = reg.location if reg.location is not None else box.location
            out.append(WhereEntry(reg.box_id, account_id, holder, reg.card_id, reg.registration_id,
                                  reg.since, reg.lease_expiry, location))
    out.sort(key=lambda e: (e.since, e.card_id))
    return out
