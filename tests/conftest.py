"""The test tree's root: plugins, and the guarantee that rooms import only as ``roamline.<room>``.

Tests import the installed (editable) package. Nothing puts the repository root on ``sys.path``
(pyproject sets no ``pythonpath``; the Makefile runs ``python -P -m pytest``); ``python -m pytest``
without ``-P`` prepends the working directory, so it is dropped here, before any test module is
imported, so that ``wire``, ``board``... can never load a second copy of a room under a bare name.
Test helpers next to the tests (``tests/wire/quic_support.py``) are imported relatively
(``from .quic_support import ...``); pytest's importlib mode names them ``tests.wire.quic_support``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _is_root(entry: str) -> bool:
    try:
        return Path(entry or ".").resolve() == ROOT
    except OSError:
        return False


sys.path[:] = [p for p in sys.path if not _is_root(p)]

pytest_plugins = ["roamline.hil.pytest_pcsc"]
