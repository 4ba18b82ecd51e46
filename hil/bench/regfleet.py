"""A fleet of simulated boxes and software-key cards for the registration benchmark.

Operator-side setup: the CA is loaded from the registry's data directory and certifies every key, and
the box and card records are written into the registry store exactly as enrollment writes them
(``cloud.enrollment``), so thousands of identities exist in seconds instead of one `enroll` round trip
each. The fleet is saved as one JSON file that the load-generator processes read.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from roamline.cloud.store import Box, Card, SqliteStore
from roamline.wire import identity


@dataclass(frozen=True, slots=True)
class FleetCard:
    card_id: str
    cert_pem: str
    key_pem: str


@dataclass(frozen=True, slots=True)
class FleetBox:
    box_id: str
    cert_pem: str
    key_pem: str
    cards: tuple[FleetCard, ...]


def make_fleet(data_dir: Path, account_id: str, boxes: int, cards_per_box: int) -> list[FleetBox]:
    """Certify ``boxes`` box keys and ``cards_per_box`` card keys each, and store them in the registry."""
    ca = identity.CertificateAuthority.load(data_dir)
    now = time.time()
    fleet: list[FleetBox] = []
    store = SqliteStore(data_dir / "registry.db")
    store.open()
    try:
        with store.transaction():
            for b in range(boxes):
                key = identity.generate_key()
                box_id = identity.box_id_for_key(key.public_key())
                cert = identity.certificate_pem(
                    ca.issue(role=identity.Role.BOX, subject_id=box_id, public_key=key.public_key(), now=now)
                ).decode("ascii")
                store.put_box(Box(box_id=box_id, cert_pem=cert, name=f"bench-{b}", board="bench",
                                  location=None, line_number=None, owner=None, revoked=False, created=now))
                cards = []
                for _ in range(cards_per_box):
                    ckey = identity.generate_key()
                    card_id = secrets.token_hex(16)
                    ccert = identity.certificate_pem(ca.issue(
                        role=identity.Role.CARD, subject_id=card_id, public_key=ckey.public_key(), now=now
                    )).decode("ascii")
                    store.put_card(Card(card_id, account_id, ccert, False, now))
                    cards.append(FleetCard(card_id, ccert, identity.private_key_pem(ckey).decode("ascii")))
                fleet.append(FleetBox(box_id, cert, identity.private_key_pem(key).decode("ascii"),
                                      tuple(cards)))
    finally:
        store.close()
    return fleet


def save_fleet(fleet: list[FleetBox], path: Path) -> None:
    doc = [{"box_id": b.box_id, "cert_pem": b.cert_pem, "key_pem": b.key_pem,
            "cards": [{"card_id": c.card_id, "cert_pem": c.cert_pem, "key_pem": c.key_pem} for c in b.cards]}
           for b in fleet]
    path.write_text(json.dumps(doc))


def load_fleet(path: Path) -> list[FleetBox]:
    return [FleetBox(b["box_id"], b["cert_pem"], b["key_pem"],
                     tuple(FleetCard(c["card_id"], c["cert_pem"], c["key_pem"]) for c in b["cards"]))
            for b in json.loads(path.read_text())]
