"""Location speed-dials on the link (docs/protocol.md §4.3): the box asks the registry which local service
a code reaches from where the box is; the box then places the call to that number like any other.

``service.resolve`` (box → registry): ``card_id`` (the calling holder's card), ``code`` — ``**N`` (the
holder's preference: ``local_dials`` in the profile maps N to a category) or an N11 code (``311``: the
directory's category of that name). ``service.resolved`` answers with ``outcome``: ``resolved`` (and the
service's ``number``, ``name``, ``category``, ``distance_m``) or why not: ``no-card`` (the card is not
registered at this box), ``no-code`` (the holder has no such speed-dial), ``no-location`` (the registry
knows no coordinates for this box), ``no-service`` (no service of the category covers the box).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, ClassVar

from msgspec import Meta

from roamline.wire.messages import Kind, Message, Sender, register_message

LOCAL_CODE_PATTERN = r"^(\*\*[0-9]{1,2}|[2-8]11)\Z"
"""What a box may ask about: ``**1`` … ``**99`` or an N11 code 211 … 811 (never 911: emergency calls
resolve nothing and wait for nobody)."""

LocalCode = Annotated[str, Meta(pattern=LOCAL_CODE_PATTERN)]


class Outcome(StrEnum):
    RESOLVED = "resolved"
    NO_CARD = "no-card"
    NO_CODE = "no-code"
    NO_LOCATION = "no-location"
    NO_SERVICE = "no-service"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceResolve(Message):
    TYPE: ClassVar[str] = "service.resolve"
    KIND: ClassVar[Kind] = "request"
    SENDER: ClassVar[Sender] = "box"
    card_id: Annotated[str, Meta(pattern=r"^[0-9a-f]{32}\Z")]
    code: LocalCode


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceResolved(Message):
    TYPE: ClassVar[str] = "service.resolved"
    KIND: ClassVar[Kind] = "reply"
    SENDER: ClassVar[Sender] = "cloud"
    code: LocalCode
    outcome: Outcome
    number: Annotated[str, Meta(pattern=r"^\+[1-9][0-9]{1,14}\Z")] | None = None
    name: Annotated[str, Meta(max_length=80)] = ""
    category: Annotated[str, Meta(max_length=32)] = ""
    distance_m: Annotated[float, Meta(ge=0)] | None = None


for _cls in (ServiceResolve, ServiceResolved):
    register_message(_cls)

__all__ = ["LOCAL_CODE_PATTERN", "Outcome", "ServiceResolve", "ServiceResolved"]
