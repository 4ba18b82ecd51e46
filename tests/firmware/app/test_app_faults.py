"""Issue 8, defects 2 and 5 in the box application: the `revoked` push is handled (it used to raise
TypeError in BoxApp._emit), and a revoked box reports its cards as refused, not "registry unreachable"."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from roamline.firmware.app import BoxApp, CardSlot
from roamline.firmware.link.client import BoxIdentity, LinkClient, RegistryEndpoint
from roamline.firmware.store import BoxStore as Store
from roamline.wire import identity
from roamline.wire.clock import ManualClock
from roamline.wire.errors import BoxRevoked
from roamline.wire.messages import Envelope, Revoked, RevokedKind

CARD = "ab" * 16


class RevokedLink:
    """What LinkClient.request does once the registry revoked the box (see tests/firmware/link)."""

    is_up = False

    async def request(self, message: Any, timeout: float | None = None) -> Any:  # noqa: ASYNC109
        raise BoxRevoked("this box is revoked at the registry")


class NoReaders:
    """The readers are not reached in these tests (the card's read is given)."""

    def session(self, reader: str) -> Any:
        raise AssertionError("not reached in these tests")


def _app(tmp_path: Path, link: Any) -> tuple[BoxApp, Store, list[tuple[str, dict[str, Any]]]]:
    store = Store(tmp_path / "box.db")
    store.open()
    seen: list[tuple[str, dict[str, Any]]] = []
    app = BoxApp(box_id="box-1", readers=NoReaders(), link=link, store=store, clock=ManualClock(),  # type: ignore[arg-type]
                 observer=lambda e, f: seen.append((e, f)))
    return app, store, seen


def test_revoked_push_is_handled(tmp_path: Path) -> None:
    key = identity.generate_key()
    link = LinkClient(RegistryEndpoint("127.0.0.1", 1, "registry.roamline", b"x"),
                      BoxIdentity(key, ""), on_up=None, on_push=None)  # type: ignore[arg-type]
    app, store, seen = _app(tmp_path, link)

    async def scenario() -> None:
        slot = CardSlot(reader="r0", inserted_at=0.0, card_id=CARD, registration_id="reg-1")
        app._slots["r0"] = slot
        await app.on_push(Envelope(message=Revoked(kind=RevokedKind.CARD, id=CARD)))
        assert slot.registration_id == "" and slot.wiped

    asyncio.run(scenario())
    assert ("revoked", {"what": "card", "id": CARD}) in seen
    assert [e["kind"] for e in store.events() if e["kind"] == "revoked"] == ["revoked"]
    store.close()


def test_a_revoked_box_reports_its_cards_refused(tmp_path: Path) -> None:
    app, store, seen = _app(tmp_path, RevokedLink())

    async def scenario() -> None:
        slot = CardSlot(reader="r0", inserted_at=0.0, card_id=CARD, cert_pem="x")
        app._slots["r0"] = slot
        app._read_card = lambda reader: (CARD, "x")  # type: ignore[method-assign]
        await app._admit(slot)

    asyncio.run(scenario())
    kinds = [(e, f.get("reason")) for e, f in seen if e.startswith("registration")]
    assert kinds == [("registration-refused", "box revoked")]
    store.close()
