"""Rig files: a whole test rig as TOML, validated once on load into frozen typed objects.

One schema describes everything a rig runs (``docs/rigs.md`` has the reference):

- ``[cloud]``: where the registry listens;
- ``[[accounts]]`` with their follow-me numbers and the host lines they may call out through
  (``lines``: line grants), ``[[cards]]`` issued to accounts;
- ``[[boxes]]``: each box's dispatchable address (``civic``), card readers, country, and optionally
  ``[boxes.line]`` (a POTS line on the simulated exchange: number, modem profile, which exchange, what
  the line is for) and ``[boxes.phone]`` (the handset: the ``sim`` backend attached through a control
  socket);
- ``[exchange]``: the simulated telephone exchange the lines hang on, with its ``[[exchange.phones]]``
  (scriptable PSTN phones, E.164 or a short code such as ``911`` for an answering point).

Unknown keys anywhere are errors, names and numbers are unique, references resolve, and a line meant
for conversations has a full-duplex modem (cx93001, mt9234mu; per the firmware's modem profiles) — a
half-duplex modem (usr5637) can only be a ``purpose = "messages"`` line.

Numbers are E.164 (``+15550100001``). On the exchange a number is its digits without the ``+`` (what a
PSTN phone or a modem dials to reach it): :func:`exchange_number`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from roamline.wire.config import load_toml
from roamline.wire.pydantic_config import Frozen

RIGS = Path(__file__).parent / "rigs"

Modem = Literal["cx93001", "mt9234mu", "usr5637"]  # simulated by hil.exchange and driven by firmware.line
NAME_RE = r"[a-z][a-z0-9_-]{0,31}"


def _e164(v: str) -> str:
    if not re.fullmatch(r"\+[1-9][0-9]{6,14}", v):
        raise ValueError(f"an E.164 number like '+15550100001', not {v!r}")
    return v


def _phone_number(v: str) -> str:
    """A PSTN phone's number: E.164, or a short service code the exchange routes as dialled (``911``,
    ``112``: the answering point of an emergency test)."""
    if re.fullmatch(r"[0-9]{3,6}", v):
        return v
    return _e164(v)


def _name(v: str) -> str:
    if not re.fullmatch(NAME_RE, v):
        raise ValueError(f"a name of lower-case letters, digits, '-' and '_' (a letter first), not {v!r}")
    return v


E164 = Annotated[str, AfterValidator(_e164)]
PhoneNumber = Annotated[str, AfterValidator(_phone_number)]
Name = Annotated[str, AfterValidator(_name)]


def exchange_number(e164: str) -> str:
    """The number as the simulated exchange knows it: the E.164 digits without the ``+``."""
    return e164.removeprefix("+")


def full_duplex(modem: str) -> bool:
    """Whether the firmware's modem profile can bridge a conversation (``voice.full_duplex``)."""
    from roamline.firmware.line.modem_profiles import by_name

    return bool(by_name(modem).voice.full_duplex)


class CloudSpec(Frozen):
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)  # 0: pick a free port


class AccountSpec(Frozen):
    name: Name
    numbers: tuple[E164, ...] = ()  # follow-me numbers
    lines: tuple[E164, ...] = ()  # host lines (boxes' line numbers) it may call out through: line grants


class CardSpec(Frozen):
    name: Name
    account: str
    pin: str = Field(default="123456", pattern=r"^[0-9]{6,8}$")


class LineSpec(Frozen):
    """A box's POTS line on the simulated exchange (a modem simulator on a pty the box opens)."""

    number: E164
    modem: Modem = "cx93001"
    exchange: Name = "pstn"  # the rig's [exchange] by name
    purpose: Literal["conversation", "messages"] = "conversation"
    cid_timing: Literal["before", "between", "none"] = "between"
    disconnect: Literal["loop_drop", "busy", "reorder", "none"] = "loop_drop"
    call_waiting: bool = False

    @model_validator(mode="after")
    def _duplex(self) -> LineSpec:
        if self.purpose == "conversation" and not full_duplex(self.modem):
            raise ValueError(f"modem {self.modem!r} is half duplex: it cannot bridge a conversation "
                             "(use cx93001 or mt9234mu, or purpose = \"messages\")")
        return self


class PhoneSpec(Frozen):
    """A box's handset: the simulated phone attached through a control socket (``hil.handset_backend``)."""

    backend: Literal["sim"] = "sim"
    seed: int | None = 1  # contact chatter; None: clean contacts


class BoxSpec(Frozen):
    name: Name
    civic: dict[str, str] = Field(default_factory=dict)  # RFC 5139 elements: the dispatchable address
    point: tuple[float, float] | None = None  # (lat, lon) of the address (location speed-dials: from here)
    readers: int = Field(default=1, ge=1, le=4)
    country: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    line: LineSpec | None = None
    phone: PhoneSpec | None = None
    emergency_contacts: tuple[str, ...] = ()  # e-mail addresses / webhook URLs told of every 911 call

    @field_validator("emergency_contacts")
    @classmethod
    def _contacts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from roamline.wire.contacts import check_contacts
        from roamline.wire.errors import UsageError as WireUsageError

        try:
            return tuple(check_contacts(list(value)))
        except WireUsageError as exc:
            raise ValueError(str(exc)) from None


class PstnPhoneSpec(Frozen):
    """A scriptable telephone on the exchange (places and answers calls through its control socket)."""

    number: PhoneNumber  # E.164, or a short code such as 911 (an answering point)
    name: str | None = Field(default=None, max_length=15)  # caller-ID name
    answer_after: int = Field(default=0, ge=0, le=20)  # rings before it answers by itself; 0: never
    busy: bool = False


class ExchangeSpec(Frozen):
    name: Name = "pstn"
    time_scale: float = Field(default=1.0, gt=0, le=100)
    no_answer_timeout: float = Field(default=180.0, gt=0)
    phones: tuple[PstnPhoneSpec, ...] = ()
    calling_party_control_s: float = Field(default=0.0, ge=0, le=600)  # hold after the callee hangs up
    # emergency numbers ("911") on the exchange: an answering point that picks up at the first ring
    answering_points: tuple[Annotated[str, Field(pattern=r"^[0-9]{2,6}$")], ...] = ()


class RigSpec(Frozen):
    name: str
    cloud: CloudSpec = CloudSpec()
    accounts: tuple[AccountSpec, ...] = ()
    cards: tuple[CardSpec, ...] = ()
    boxes: tuple[BoxSpec, ...] = ()
    exchange: ExchangeSpec | None = None

    @model_validator(mode="after")
    def _references_exist(self) -> RigSpec:
        accounts = {a.name for a in self.accounts}
        for card in self.cards:
            if card.account not in accounts:
                raise ValueError(f"card {card.name!r} names unknown account {card.account!r}")
        for kind, names in (("account", [a.name for a in self.accounts]),
                            ("box", [b.name for b in self.boxes]), ("card", [c.name for c in self.cards])):
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValueError(f"duplicate {kind} names: {', '.join(dup)}")
        lines = [b.line for b in self.boxes if b.line is not None]
        for account in self.accounts:
            unknown = sorted(set(account.lines) - {ln.number for ln in lines})
            if unknown:
                raise ValueError(f"account {account.name!r} has rights on {', '.join(unknown)}, "
                                 "which is no box's line")
        if lines and self.exchange is None:
            raise ValueError("boxes have lines but the rig has no [exchange]")
        for box in self.boxes:
            if box.line is not None and self.exchange is not None and box.line.exchange != self.exchange.name:
                raise ValueError(f"box {box.name!r}: line names exchange {box.line.exchange!r}, "
                                 f"the rig's is {self.exchange.name!r}")
        on_exchange = [ln.number for ln in lines] + [p.number for p in (self.exchange.phones if self.exchange
                                                                       else ())]
        dup = sorted({n for n in on_exchange if on_exchange.count(n) > 1})
        if dup:
            raise ValueError(f"numbers used twice on the exchange: {', '.join(dup)}")
        follow = [n for a in self.accounts for n in a.numbers]
        dup = sorted({n for n in follow if follow.count(n) > 1})
        if dup:
            raise ValueError(f"follow-me numbers given to two accounts: {', '.join(dup)}")
        return self

    def box(self, name: str) -> BoxSpec:
        for b in self.boxes:
            if b.name == name:
                return b
        raise KeyError(name)


def load_rig(name_or_path: str | Path) -> RigSpec:
    """A rig by path, or by name from hil/rigs/ (``demo`` → hil/rigs/demo.toml)."""
    p = Path(name_or_path)
    if not p.exists() and (RIGS / f"{name_or_path}.toml").exists():
        p = RIGS / f"{name_or_path}.toml"
    return load_toml(RigSpec, p)
