"""Command tables and leaf commands.

A room publishes a table mapping command words to leaf modules, e.g.
``{"diag modem": "roamline.firmware.line.diag_cmd"}``. A leaf module defines:

- ``SUMMARY: str`` — one line for listings;
- ``configure(parser: argparse.ArgumentParser) -> None`` — its arguments;
- ``run(args: argparse.Namespace) -> int`` — the exit status.

Leaf modules keep their top-level imports light; heavy imports go inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import NoReturn

from roamline.errors import RoamlineUsageError


class CommandNotFound(LookupError):
    """The words typed name no command (a usage error)."""


class BadArguments(RoamlineUsageError, ValueError):
    """The arguments do not parse or an option's value is refused (a usage error: exit 2)."""


class Parser(argparse.ArgumentParser):
    """argparse, but a refused argument raises BadArguments (one line) instead of printing usage and
    exiting, so the face reports it like any other usage error."""

    def error(self, message: str) -> NoReturn:
        raise BadArguments(f"{self.prog}: {message}".splitlines()[0])


def match(table: Mapping[str, str], argv: Sequence[str]) -> tuple[str, int]:
    """Longest command in ``table`` that prefixes ``argv``: (words, how many argv items it used)."""
    best: tuple[str, int] | None = None
    for words in table:
        parts = words.split()
        if list(argv[: len(parts)]) == parts and (best is None or len(parts) > best[1]):
            best = (words, len(parts))
    if best is None:
        raise CommandNotFound(" ".join(argv[:2]) or "(nothing)")
    return best


def below(table: Mapping[str, str], prefix: Sequence[str]) -> list[str]:
    """Commands in ``table`` that start with ``prefix``."""
    n = len(prefix)
    return sorted(w for w in table if w.split()[:n] == list(prefix))


def load(module_name: str) -> ModuleType:
    module = importlib.import_module(module_name)
    for attr in ("SUMMARY", "configure", "run"):
        if not hasattr(module, attr):
            raise TypeError(f"{module_name} is not a command module (no {attr})")
    return module


def summary(module_name: str) -> str:
    try:
        return str(load(module_name).SUMMARY)
    except Exception as exc:  # a broken command must not hide the others in a listing
        return f"(unavailable: {exc})"


def parser_for(prog: str, module: ModuleType) -> argparse.ArgumentParser:
    parser = Parser(prog=prog, description=str(module.SUMMARY))
    module.configure(parser)
    return parser
