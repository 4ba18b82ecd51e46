"""The box configuration file (firmware/config.py BoxConfig through wire/config.py loads_toml).

Documented error: ``ConfigError`` (not TOML, or does not validate), with a one-line message.
"""

from __future__ import annotations

from pathlib import Path

from roamline.firmware.config import BoxConfig
from roamline.wire.config import ConfigError, loads_toml

EXPECTED: tuple[type[BaseException], ...] = (ConfigError,)


def target(data: bytes) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return  # refused by load_toml before parsing ("cannot read")
    try:
        config = loads_toml(BoxConfig, text, "box.toml")
    except ConfigError as exc:
        assert "\n" not in str(exc)
        raise
    config.resolved(Path("/etc/roamline"))
