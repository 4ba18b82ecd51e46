"""Typed conversion of decoded data (JSON, TOML) into frozen objects, with msgspec.

One place for what every validating room needs: :func:`convert` (``msgspec.convert`` with paths from
strings, and its errors as :class:`TypedError`) and :func:`one_line` (a msgspec error as
``WHERE: PROBLEM``). msgspec is small (≈ 1 MiB resident) and imports in milliseconds, which matters on
the box (issue 9: the box process does not import pydantic).

``__post_init__`` checks of a class may raise ``ValueError("FIELD: problem")``: the field is joined to
the path msgspec reports, so the message names ``section.field``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from roamline.wire.errors import UsageError

T = TypeVar("T")

_AT = " - at `"
_FIELD = re.compile(r"Object (missing required|contains unknown) field `([^`]*)`")
_NAMED = re.compile(r"([a-z_][a-z0-9_]*): (.+)", re.DOTALL)


class TypedError(UsageError):
    """Data that does not convert; ``str()`` is one line naming where (``registry.port: …``). Callers
    re-raise it as their own error with what the data was (``ConfigError`` naming the file, ``BadBody``
    naming the message type: the peer's fault, not a usage error)."""


def _dec_hook(tp: Any, obj: Any) -> Any:
    if tp is Path:
        if isinstance(obj, str):
            return Path(obj)
        raise ValueError(f"Expected `str` (a path), got `{type(obj).__name__}`")
    raise NotImplementedError(f"no conversion to {tp!r}")


def one_line(exc: msgspec.ValidationError, *, top: str = "") -> str:
    """``WHERE: PROBLEM`` of a msgspec error (``top`` when it is about the whole object); one printable
    line (control characters escaped: ``x\\ny``)."""
    text = str(exc)
    problem, sep, path = text.rpartition(_AT)
    if not sep:
        problem, path = text, "$`"
    where = path[:-1].removeprefix("$").removeprefix(".")
    m = _FIELD.fullmatch(problem)
    if m is not None:
        where = f"{where}.{m.group(2)}" if where else m.group(2)
        problem = "missing" if m.group(1) == "missing required" else "unknown field"
    else:
        named = _NAMED.fullmatch(problem)
        if named is not None:  # a __post_init__ check naming its field
            where = f"{where}.{named.group(1)}" if where else named.group(1)
            problem = named.group(2)
    where = where or top
    out = f"{where}: {problem}" if where else problem
    # control characters (a newline in a key the data had) escaped, so the reason stays one line
    return out if out.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in out)


def convert(data: object, tp: type[T], *, strict: bool = True, top: str = "") -> T:
    """``data`` (decoded JSON or TOML) as ``tp``; TypedError with a one-line reason otherwise (``top``
    names the whole object when the problem is not in one field)."""
    try:
        return msgspec.convert(data, type=tp, strict=strict, dec_hook=_dec_hook)
    except msgspec.ValidationError as exc:
        raise TypedError(one_line(exc, top=top)) from None


def to_builtins(obj: object) -> Any:
    """``obj`` as JSON-ready builtins: bytes as standard base64, enums as values, tuples as lists."""
    return _lists(msgspec.to_builtins(obj, enc_hook=_enc_hook))


def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    raise NotImplementedError(f"cannot encode {type(obj).__name__}")


def _lists(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _lists(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_lists(v) for v in x]
    return x


__all__ = ["TypedError", "convert", "one_line", "to_builtins"]
