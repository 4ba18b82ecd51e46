"""The box configuration (TOML), validated once on load into frozen typed objects.

Each peripheral names its backend. Real and simulated hardware differ only in what the backend talks to:
a simulated card is a virtual card behind the real pcscd (backend "pcsc" either way), a simulated modem is
a modem simulator on a pty (backend "serial"). Relative paths are relative to the config file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from roamline.wire.config import Frozen, load_toml


class RegistryConfig(Frozen):
    host: str = "127.0.0.1"
    port: int = Field(default=4433, ge=1, le=65535)
    server_name: str = "registry.roamline"
    ca: Path = Path("ca.pem")


class IdentityConfig(Frozen):
    cert: Path = Path("box.pem")
    key: Path = Path("box.key")


class CardConfig(Frozen):
    backend: Literal["pcsc", "none"] = "pcsc"
    # Reader names this box owns (exact names as PC/SC reports them); empty = every reader it sees.
    readers: tuple[str, ...] = ()


class LineConfig(Frozen):
    backend: Literal["serial", "none"] = "none"
    device: str = ""
    profile: str = "auto"


class LinkConfig(Frozen):
    keepalive_s: float = Field(default=15.0, gt=0)
    request_timeout_s: float = Field(default=5.0, gt=0)
    backoff_initial_s: float = Field(default=0.5, gt=0)
    backoff_max_s: float = Field(default=30.0, gt=0)


class BoxConfig(Frozen):
    name: str = "box"
    board: str = "sim"  # a board profile shipped in board/profiles
    data_dir: Path = Path("data")
    registry: RegistryConfig = RegistryConfig()
    identity: IdentityConfig = IdentityConfig()
    card: CardConfig = CardConfig()
    line: LineConfig = LineConfig()
    link: LinkConfig = LinkConfig()

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
                "registry": self.registry.model_copy(update={"ca": r(self.registry.ca)}),
                "identity": self.identity.model_copy(
                    update={"cert": r(self.identity.cert), "key": r(self.identity.key)}
                ),
            }
        )


def load_box_config(path: str | Path) -> BoxConfig:
    p = Path(path)
    return load_toml(BoxConfig, p).resolved(p.resolve().parent)
