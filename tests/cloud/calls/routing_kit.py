"""A store with accounts, numbers, boxes (some with host lines) and registrations, for router tests."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from roamline.cloud.records import Box, Card, Registration
from roamline.cloud.router import Action, Request, Router, RouterConfig, Send
from roamline.cloud.store import SqliteStore
from roamline.wire.messages import Envelope, Message


@dataclass
class Kit:
    store: SqliteStore
    now: float = 1_800_000_000.0
    router: Router = field(init=False)
    ids: int = 0

    def __post_init__(self) -> None:
        self.router = Router(self.store, RouterConfig(no_answer_s=30.0, answer_line_s=10.0))

    def box(self, name: str, line: str | None = None, connect: bool = True) -> str:
        box_id = f"box-{name}"
        self.store.put_box(Box(box_id, "pem-" + name, name, "sim", None, line, None, False, self.now))
        if connect:
            self.router.box_connected(box_id, "conn-" + name, self.now)
        return box_id

    def holder(self, name: str, number: str, at: str | None = None) -> str:
        account_id = f"acct-{name}"
        if self.store.get_account(account_id) is None:
            self.store.create_account(account_id, name, self.now)
            self.store.add_number(account_id, number)
        card_id = secrets.token_hex(16)
        self.store.put_card(Card(card_id, account_id, "pem", False, self.now))
        if at is not None:
            self.register(card_id, account_id, at)
        return card_id

    def register(self, card_id: str, account_id: str, box_id: str) -> None:
        self.now += 1
        self.store.add_registration(
            Registration(
                "reg-" + secrets.token_hex(4),
                card_id,
                box_id,
                account_id,
                self.now,
                self.now + 3600,
                self.store.next_seq(card_id),
                None,
                True,
            )
        )

    def send(self, box: str, msg: Message) -> list[Action]:
        self.ids += 1
        env = Envelope(message=msg, id=f"c{self.ids}" if msg.KIND == "request" else None)
        return self.router.handle("conn-" + box.removeprefix("box-"), box, env, self.now)

    def reply_to(self, env_id: str, out: list[Action]) -> Message:
        (found,) = [a.message for a in out if isinstance(a, Send) and a.re == env_id]
        return found


def sends(out: list[Action], conn: str | None = None) -> list[Message]:
    return [a.message for a in out if isinstance(a, Send) and (conn is None or a.conn_id == conn)]


def requests(out: list[Action], conn: str | None = None) -> list[Request]:
    return [a for a in out if isinstance(a, Request) and (conn is None or a.conn_id == conn)]


def make_kit(tmp: Path) -> Kit:
    store = SqliteStore(tmp / "registry.db")
    store.open()
    return Kit(store)
