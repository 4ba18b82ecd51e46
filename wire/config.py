"""TOML configuration validated once on load into frozen, typed objects (msgspec structs).

:class:`Frozen` is the base of every configuration object: immutable, keyword-only, and unknown keys
are errors (typos surface). Conversion is msgspec's lax mode, as pydantic's was (a TOML string of digits
is taken for an integer field); integers are accepted for floats and strings for paths. Checks a type
cannot state go in ``__post_init__`` and raise ``ValueError("FIELD: problem")`` (:mod:`roamline.wire.typed`).

The loaders also take a pydantic model (``hil``'s rigs and provisioning's card files are still pydantic,
on :class:`roamline.wire.pydantic_config.Frozen`); pydantic is imported only then, never on the box's
path.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from roamline.wire.errors import UsageError
from roamline.wire.typed import TypedError, convert, to_builtins


class ConfigError(UsageError):
    """A configuration file is missing, not TOML, or does not validate. The message is one line."""


class Frozen(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of every configuration object: immutable, and unknown keys are errors (typos surface).

    Subclasses say ``frozen=True, kw_only=True`` again (msgspec applies kw_only to the fields a class
    defines, and type checkers read each class's own arguments): fields are
    keyword-only, so a required field may follow one with a default."""


M = TypeVar("M")


def replace(obj: M, **changes: Any) -> M:
    """A copy of the frozen ``obj`` with ``changes`` (no checks run again)."""
    return msgspec.structs.replace(obj, **changes)  # type: ignore[type-var]


def dump(obj: object, *, exclude_none: bool = False) -> dict[str, Any]:
    """``obj`` as TOML- and JSON-ready builtins (paths as strings, tuples as lists); ``exclude_none``
    leaves out keys whose value is None (TOML has no null)."""
    data: dict[str, Any] = to_builtins(obj)
    return _without_none(data) if exclude_none else data


def _without_none(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _without_none(v) for k, v in x.items() if v is not None}
    if isinstance(x, list):
        return [_without_none(v) for v in x]
    return x


def _pydantic_one_line(model: Any, data: dict[str, Any]) -> Any:
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise TypedError(f"{where}: {first['msg']}{more}") from None


def parse(model: type[M], data: dict[str, Any], source: str = "<config>") -> M:
    """``data`` validated as ``model``; any problem is a ConfigError ``SOURCE: KEY: PROBLEM``."""
    try:
        if hasattr(model, "model_validate"):  # a pydantic model (hil, provisioning)
            result: M = _pydantic_one_line(model, data)
            return result
        return convert(data, model, strict=False)
    except TypedError as exc:
        raise ConfigError(f"{source}: {exc}") from None


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
