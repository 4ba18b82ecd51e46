"""Rig files: a whole test rig (cloud, boxes, cards, readers; later modems, handsets, GPS) as TOML."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from roamline.wire.config import Frozen, load_toml

RIGS = Path(__file__).parent / "rigs"


class CloudSpec(Frozen):
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)


class AccountSpec(Frozen):
    name: str
    numbers: tuple[str, ...] = ()


class CardSpec(Frozen):
    name: str
    account: str
    pin: str = "123456"


class BoxSpec(Frozen):
    name: str
    civic: dict[str, str] = Field(default_factory=dict)  # RFC 5139 elements: the dispatchable address
    readers: int = Field(default=1, ge=1, le=4)


class RigSpec(Frozen):
    name: str
    cloud: CloudSpec = CloudSpec()
    accounts: tuple[AccountSpec, ...] = ()
    cards: tuple[CardSpec, ...] = ()
    boxes: tuple[BoxSpec, ...] = ()

    @model_validator(mode="after")
    def _references_exist(self) -> RigSpec:
        accounts = {a.name for a in self.accounts}
        for card in self.cards:
            if card.account not in accounts:
                raise ValueError(f"card {card.name!r} names unknown account {card.account!r}")
        for kind, names in (("box", [b.name for b in self.boxes]), ("card", [c.name for c in self.cards])):
            if len(set(names)) != len(names):
                raise ValueError(f"duplicate {kind} names")
        return self


def load_rig(name_or_path: str | Path) -> RigSpec:
    """A rig by path, or by name from hil/rigs/ (``demo`` → hil/rigs/demo.toml)."""
    p = Path(name_or_path)
    if not p.exists() and (RIGS / f"{name_or_path}.toml").exists():
        p = RIGS / f"{name_or_path}.toml"
    return load_toml(RigSpec, p)
