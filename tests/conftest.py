"""The test tree's root: plugins, and the guarantee that rooms import only as ``roamline.<room>``.

Tests import the installed (editable) package. Nothing puts the repository root on ``sys.path``
(pyproject sets no ``pythonpath``; the Makefile runs ``python -P -m pytest``); ``python -m pytest``
without ``-P`` prepends the working directory, so it is dropped here, before any test module is
imported, so that ``wire``, ``board``... can never load a second copy of a room under a bare name.
Test helpers next to the tests (``tests/wire/quic_support.py``) are imported relatively
(``from .quic_support import ...``); pytest's importlib mode names them ``tests.wire.quic_support``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent


def _is_root(entry: str) -> bool:
    try:
        return Path(entry or ".").resolve() == ROOT
    except OSError:
        return False


sys.path[:] = [p for p in sys.path if not _is_root(p)]

pytest_plugins = ["roamline.hil.pytest_pcsc"]

# Hypothesis's per-example deadline (200 ms by default) is a timing assertion: on these shared 2-core
# machines (and with two pytest workers) an example of the emergency-string property took 318 ms once
# and 0.4 ms when replayed, failing the run as flaky. Performance is measured by `roamline bench`, so no
# deadline; the number of examples stays each test's own (or hypothesis's default).
settings.register_profile("roamline", deadline=None)
settings.load_profile("roamline")

# --- parallel runs (pytest-xdist; `make test` runs `-n $(PYTEST_JOBS) --dist loadfile`) --------------
# loadfile keeps the tests of one module in one worker, in their order, so module-scoped rigs (a
# registry, an exchange and box processes) are built once, as in a serial run. (`--dist loadgroup` and
# ``xdist_group`` marks do nothing with pytest 9.2: xdist 3.8 writes the group into ``item._nodeid``,
# which pytest no longer reads.) The workers are handed modules in collection order; modules that drive
# real processes (box rigs, the demo, the spine rig, the benchmarks' smoke runs) are moved first,
# because they are the longest units and one handed out last would leave the other worker idle at the
# end. A new module in one of these folders (or named so) is picked up with no edit.
REAL_PROCESS_PATHS = ("tests/firmware/box/", "tests/hil/spine/", "tests/hil/test_demo.py",
                      "tests/hil/test_bench_")


def _heavy(item: pytest.Item) -> bool:
    try:
        rel = item.path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return False
    return rel.startswith(REAL_PROCESS_PATHS)


# A module-scoped rig (registry, exchange, boxes: ~20 `roamline` commands) takes 20 s on a quiet machine
# and 55-136 s at load 10-12, and pytest-timeout charges it to the module's first test: tests of these
# modules get 300 s unless they set their own limit (test_box_flows.py already did).
REAL_PROCESS_TIMEOUT_S = 300


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _heavy(item) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(REAL_PROCESS_TIMEOUT_S))
    if os.environ.get("PYTEST_XDIST_WORKER"):  # a serial run keeps its order
        items.sort(key=lambda i: not _heavy(i))  # stable: each module's tests stay in their order
