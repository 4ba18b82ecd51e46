"""The box configuration (TOML), validated once on load into frozen typed objects.

Each peripheral names its backend: ``"board"`` takes the board profile's ``[backends]`` name, ``"none"``
means the box has no such peripheral, any other name is an entry point in ``roamline.backends.<kind>``
(see ``firmware.backends``). Real and simulated hardware often differ only in what the backend talks to:
a simulated card is a virtual card behind the real pcscd (backend "pcsc" either way), a simulated modem
is a modem simulator on a pty (backend "serial"). ``options`` are passed to the backend as they are.
Relative paths are relative to the config file.

The objects are msgspec structs (``wire.config.Frozen``): a file is checked completely on load (types,
ranges, the checks in ``__post_init__``); an object built in code runs its ``__post_init__`` checks
(backend names, country, board, contacts, addresses) but not the type and range constraints.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from roamline.wire.config import Frozen, load_toml, replace

_BACKEND = re.compile(r"[a-z][a-z0-9_-]{0,31}")


def _backend_name(v: str) -> None:
    if not _BACKEND.fullmatch(v):
        raise ValueError(f"backend: a backend name like 'board', 'none', 'serial', not {v!r}")


def _country(v: str) -> None:
    if not re.fullmatch(r"[A-Z]{2}", v):
        raise ValueError(f"country: an ISO 3166 two-letter country code like 'US', not {v!r}")


Positive = Annotated[float, Meta(gt=0)]


class RegistryConfig(Frozen, frozen=True, kw_only=True):
    host: str = "127.0.0.1"
    port: Annotated[int, Meta(ge=1, le=65535)] = 4433
    server_name: str = "registry.roamline"
    ca: Path = Path("ca.pem")


class IdentityConfig(Frozen, frozen=True, kw_only=True):
    cert: Path = Path("box.pem")
    key: Path = Path("box.key")


class CardConfig(Frozen, frozen=True, kw_only=True):
    backend: str = "board"
    # Reader names this box owns (exact names as PC/SC reports them); empty = every reader it sees.
    readers: tuple[str, ...] = ()
    options: dict[str, str] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        _backend_name(self.backend)


class LineConfig(Frozen, frozen=True, kw_only=True):
    backend: str = "none"  # a box without a line: no lifeline (emergency goes through the cloud)
    device: str = ""  # serial device path or pyserial URL
    profile: str = "board"  # modem profile: "board" (the board profile's), "auto" (identify), or a name
    number: str = ""  # this line's own number as dialled locally or E.164 (caller ID for the lifeline)
    options: dict[str, str] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        _backend_name(self.backend)


class HandsetConfig(Frozen, frozen=True, kw_only=True):
    backend: str = "none"
    options: dict[str, str] = msgspec.field(default_factory=dict)
    interdigit_s: Annotated[float, Meta(gt=0, le=30)] = 4.0  # dial plan: wait after a digit
    first_digit_s: Annotated[float, Meta(gt=0, le=120)] = 15.0  # off-hook with no digit → reorder

    def __post_init__(self) -> None:
        _backend_name(self.backend)


class LinkConfig(Frozen, frozen=True, kw_only=True):
    keepalive_s: Positive = 15.0
    request_timeout_s: Positive = 5.0
    backoff_initial_s: Positive = 0.5
    backoff_max_s: Positive = 30.0
    # a relayed call with no voice datagram this long ends at the box (the handset hears reorder, a host
    # line is hung up) while the link is down; with the link up the cloud's own silence timeout decides
    # (the box steps in only after twice this, should the cloud not)
    media_silence_s: Annotated[float, Meta(gt=0, le=3600)] = 10.0


class LocationConfig(Frozen, frozen=True, kw_only=True):
    """Where the box is, as recorded at enrollment or by the operator: 911, 933 and PIDF-LO use it with no
    cloud. ``addresses`` are ``{"civic": {RFC 5139 elements}, "method": "installer"}`` (wire.civic rules);
    the first is the one emergency calls send until the holder confirms another (moved detection)."""

    addresses: tuple[dict[str, Any], ...] = ()
    moved_threshold_m: Positive = 200.0
    # e-mail addresses / https webhooks told of every emergency call (the registry sends; the box knows
    # them with no cloud, as enrollment wrote them)
    emergency_contacts: tuple[str, ...] = ()
    # a gpsd (host:port) read instead of the board profile's [gps] (a receiver elsewhere; tests)
    gpsd: Annotated[str, Meta(pattern=r"^[^:\s]+:[0-9]{1,5}\Z")] | None = None

    def __post_init__(self) -> None:
        from roamline.wire.errors import UsageError

        if self.emergency_contacts:
            from roamline.wire.contacts import check_contacts

            try:
                contacts = tuple(check_contacts(list(self.emergency_contacts)))
            except UsageError as exc:
                raise ValueError(f"emergency_contacts: {exc}") from None
            msgspec.structs.force_setattr(self, "emergency_contacts", contacts)
        if self.addresses:
            from roamline.wire.civic import check_location

            try:
                addresses = tuple(check_location(a) for a in self.addresses)
            except UsageError as exc:
                raise ValueError(f"addresses: {exc}") from None
            msgspec.structs.force_setattr(self, "addresses", addresses)


class StateConfig(Frozen, frozen=True, kw_only=True):
    """The running service's published state (``firmware.service_state``), read by ``box health``."""
    file: Path | None = None  # default: DATA_DIR/service-state.json; e.g. /run/roamline/state.json
    heartbeat_s: Annotated[float, Meta(gt=0, le=300)] = 5.0  # rewritten at least this often


class BoxConfig(Frozen, frozen=True, kw_only=True):
    name: str = "box"
    board: str = "sim"  # a board profile shipped in board/profiles
    country: str = "US"  # dial plan, tones, caller ID
    data_dir: Path = Path("data")
    registry: RegistryConfig = RegistryConfig()
    identity: IdentityConfig = IdentityConfig()
    card: CardConfig = CardConfig()
    line: LineConfig = LineConfig()
    handset: HandsetConfig = HandsetConfig()
    link: LinkConfig = LinkConfig()
    location: LocationConfig = LocationConfig()
    state: StateConfig = StateConfig()

    def __post_init__(self) -> None:
        _country(self.country)
        from roamline.board.profile import available_profiles

        known = available_profiles()
        if self.board not in known:
            raise ValueError(f"board: no board profile {self.board!r} (known: {', '.join(known)})")

    def resolved(self, base: Path) -> BoxConfig:
        """The same config with relative paths made absolute against ``base`` (the file's folder)."""

        def r(p: Path) -> Path:
            return p if p.is_absolute() else (base / p).resolve()

        return replace(
            self,
            data_dir=r(self.data_dir),
            state=replace(self.state, file=r(self.state.file) if self.state.file is not None
                          else r(self.data_dir) / "service-state.json"),
            registry=replace(self.registry, ca=r(self.registry.ca)),
            identity=replace(self.identity, cert=r(self.identity.cert), key=r(self.identity.key)),
        )


def load_box_config(path: str | Path) -> BoxConfig:
    p = Path(path)
    return load_toml(BoxConfig, p).resolved(p.resolve().parent)
