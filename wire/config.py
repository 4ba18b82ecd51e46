"""TOML configuration validated once on load into frozen, typed objects (pydantic models)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from roamline.wire.errors import UsageError


class ConfigError(UsageError):
    """A configuration file is missing, not TOML, or does not validate. The message is one line."""


class Frozen(BaseModel):
    """Base of every configuration object: immutable, and unknown keys are errors (typos surface)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


M = TypeVar("M", bound=BaseModel)


def _one_line(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top)"
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"


def parse(model: type[M], data: dict[str, Any], source: str = "<config>") -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_one_line(exc)}") from None


def loads_toml(model: type[M], text: str, source: str = "<config>", *, table: str | None = None) -> M:
    """Parse TOML ``text`` and validate it as ``model``; any problem is a ConfigError naming ``source``.
    With ``table``, a document that has that table is validated by it alone."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    if table is not None and isinstance(data.get(table), dict):
        data = data[table]
    return parse(model, data, source)


def load_toml(model: type[M], path: str | Path, *, table: str | None = None) -> M:
    """Read ``path`` and validate it as ``model``; any problem is a ConfigError of one line,
    ``FILE: KEY: PROBLEM``. With ``table``, a file that has that table is validated by it alone (a rig
    file's ``[exchange]``); one without it is taken whole.

    The one TOML loader of every room that may import wire (board/ may not, and reads its profiles
    with the stdlib in the same error style)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read: {exc}") from None
    return loads_toml(model, text, str(p), table=table)
