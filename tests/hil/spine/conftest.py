"""On a failed spine test, attach every rig process's recent output to the report (CI diagnosis)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from roamline.hil.rigrun import RigRunner


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    rig = getattr(item, "funcargs", {}).get("rig")
    if isinstance(rig, RigRunner):
        procs = [p for p in (rig.registry, rig.exchange) if p is not None]
        procs += [b.process for b in rig.boxes.values()]
        for proc in procs:
            report.sections.append((f"output of {proc.name}", "\n".join(proc.output()[-60:])))
