"""The box configuration (TOML), validated once on load into frozen typed objects.

Each peripheral names its backend: ``"board"`` takes the board profile's ``[backends]`` name, ``"none"``
means the box has no such peripheral, any other name is an entry point in ``roamline.backends.<kind>``
(see ``firmware.backends``). Real and simulated hardware often differ only in what the backend talks to:
a simulated card is a virtual card behind the real pcscd (backend "pcsc" either way), a simulated modem
is a modem simulator on a pty (backend "serial"). ``options`` are passed to the backend as they are.
Relative paths are relative to the config file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator

from roamline.wire.config import Frozen, load_toml


def _backend_name(v: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", v):
        raise ValueError(f"a backend name like 'board', 'none', 'serial', not {v!r}")
    return v


BackendName = Annotated[str, AfterValidator(_backend_name)]


def _country(v: str) -> str:
    if not re.fullmatch(r"[A-Z]{2}", v):
        raise ValueError(f"an ISO 3166 two-letter country code like 'US', not {v!r}")
    return v


class RegistryConfig(Frozen):
    host: str = "127.0.0.1"
    port: int = Field(default=4433, ge=1, le=65535)
    server_name: str = "registry.roamline"
    ca: Path = Path("ca.pem")


class IdentityConfig(Frozen):
    cert: Path = Path("box.pem")
    key: Path = Path("box.key")


class CardConfig(Frozen):
    backend: BackendName = "board"
    # Reader names this box owns (exact names as PC/SC reports them); empty = every reader it sees.
    readers: tuple[str, ...] = ()
    options: dict[str, str] = Field(default_factory=dict)


class LineConfig(Frozen):
    backend: BackendName = "none"  # a box without a line: no lifeline (emergency goes through the cloud)
    device: str = ""  # serial device path or pyserial URL
    profile: str = "board"  # modem profile: "board" (the board profile's), "auto" (identify), or a name
    number: str = ""  # this line's own number as dialled locally or E.164 (caller ID for the lifeline)
    options: dict[str, str] = Field(default_factory=dict)


class HandsetConfig(Frozen):
    backend: BackendName = "none"
    options: dict[str, str] = Field(default_factory=dict)
    interdigit_s: float = Field(default=4.0, gt=0, le=30)  # dial plan: wait after a digit
    first_digit_s: float = Field(default=15.0, gt=0, le=120)  # off-hook with no digit → reorder


class LinkConfig(Frozen):
    keepalive_s: float = Field(default=15.0, gt=0)
    request_timeout_s: float = Field(default=5.0, gt=0)
    backoff_initial_s: float = Field(default=0.5, gt=0)
    backoff_max_s: float = Field(default=30.0, gt=0)
    # a relayed call with no voice datagram this long ends at the box (the handset hears reorder, a host
    # line is hung up) while the link is down; with the link up the cloud's own silence timeout decides
    # (the box steps in only after twice this, should the cloud not)
    media_silence_s: float = Field(default=10.0, gt=0, le=3600)


class LocationConfig(Frozen):
    """Where the box is, as recorded at enrollment or by the operator: 911, 933 and PIDF-LO use it with no
    cloud. ``addresses`` are ``{"civic": {RFC 5139 elements}, "method": "installer"}`` (wire.civic rules);
    the first is the one emergency calls send until the holder confirms another (moved detection)."""

    addresses: tuple[dict[str, Any], ...] = ()
    moved_threshold_m: float = Field(default=200.0, gt=0)
    # e-mail addresses / https webhooks told of every emergency call (the registry sends; the box knows
    # them with no cloud, as enrollment wrote them)
    emergency_contacts: tuple[str, ...] = ()
    # a gpsd (host:port) read instead of the board profile's [gps] (a receiver elsewhere; tests)
    gpsd: str | None = Field(default=None, pattern=r"^[^:\s]+:[0-9]{1,5}$")

    @field_validator("emergency_contacts")
    @classmethod
    def _contacts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from roamline.wire.contacts import check_contacts
        from roamline.wire.errors import UsageError

        try:
            return tuple(check_contacts(list(value))) if value else ()
        except UsageError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("addresses")
    @classmethod
    def _dispatchable(cls, value: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
        from roamline.wire.civic import check_location
        from roamline.wire.errors import UsageError

        try:
            return tuple(check_location(a) for a in value)
        except UsageError as exc:
            raise ValueError(str(exc)) from None


class StateConfig(Frozen):
    """The running service's published state (``firmware.service_state``), read by ``box health``."""
    file: Path | None = None  # default: DATA_DIR/service-state.json; e.g. /run/roamline/state.json
    heartbeat_s: float = Field(default=5.0, gt=0, le=300)  # rewritten at least this often


class BoxConfig(Frozen):
    name: str = "box"
    board: str = "sim"  # a board profile shipped in board/profiles
    country: Annotated[str, AfterValidator(_country)] = "US"  # dial plan, tones, caller ID
    data_dir: Path = Path("data")
    registry: RegistryConfig = RegistryConfig()
    identity: IdentityConfig = IdentityConfig()
    card: CardConfig = CardConfig()
    line: LineConfig = LineConfig()
    handset: HandsetConfig = HandsetConfig()
    link: LinkConfig = LinkConfig()
    location: LocationConfig = LocationConfig()
    state: StateConfig = StateConfig()

    @field_validator("board")
    @classmethod
    def _known_board(cls, value: str) -> str:
        from roamline.board.profile import available_profiles

        known = available_profiles()
        if value not in known:
            raise ValueError(f"no board profile {value!r} (known: {', '.join(known)})")
        return value

    def resolved(self, base: Path) -> BoxConfig:
        """The same config with relative paths made absolute against ``base`` (the file's folder)."""

        def r(p: Path) -> Path:
            return p if p.is_absolute() else (base / p).resolve()

        return self.model_copy(
            update={
                "data_dir": r(self.data_dir),
                "state": self.state.model_copy(
                    update={"file": r(self.state.file) if self.state.file is not None
                            else r(self.data_dir) / "service-state.json"}),
                "registry": self.registry.model_copy(update={"ca": r(self.registry.ca)}),
                "identity": self.identity.model_copy(
                    update={"cert": r(self.identity.cert), "key": r(self.identity.key)}
                ),
            }
        )


def load_box_config(path: str | Path) -> BoxConfig:
    p = Path(path)
    return load_toml(BoxConfig, p).resolved(p.resolve().parent)
