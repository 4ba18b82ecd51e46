"""The layout's rules (DESIGN §3) hold by tool, not by discipline.

- ``lint-imports`` (the contracts in pyproject.toml, run by ``make lint``) passes on the real tree and
  fails on a copy of it with one forbidden import planted, including imports inside functions and under
  ``TYPE_CHECKING``;
- ruff's banned-api rule (TID251) refuses every bare room name;
- in this test process no room is importable under a bare name and no file is loaded under two names.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import roamline

ROOT = Path(__file__).resolve().parent.parent
ROOMS = ("wire", "board", "firmware", "cloud", "provisioning", "hil", "cli", "errors")  # errors: the root
BIN = Path(sys.executable).parent


def lint_imports(cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([str(BIN / "lint-imports"), "--no-cache"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_contracts_are_kept_on_the_real_tree() -> None:
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    assert f"Contracts: {len(contracts)} kept, 0 broken." in done.stdout


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The rooms copied as a regular ``roamline`` package, found first on PYTHONPATH."""
    base = tmp_path_factory.mktemp("layout")
    pkg = base / "roamline"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for room in ROOMS:
        shutil.copytree(ROOT / room, pkg / room, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", base / "pyproject.toml")
    return base


def test_the_copy_is_clean(tree_copy: Path) -> None:  # so a broken contract below is the planted import's
    done = lint_imports(tree_copy, tree_copy)
    assert done.returncode == 0, done.stdout + done.stderr
    assert ", 0 broken." in done.stdout


FUNCTION = "\n\ndef _planted() -> None:\n    {imp}  # noqa\n"
MODULE = "\n{imp}  # noqa\n"
TYPE_ONLY = "\nfrom typing import TYPE_CHECKING  # noqa\n\nif TYPE_CHECKING:\n    {imp}  # noqa\n"

PLANTS = [
    ("firmware/line/dle.py", FUNCTION, "import roamline.cloud.errors",
     "firmware and cloud never import each other"),
    ("cloud/lookup.py", FUNCTION, "from roamline.firmware import store",
     "firmware and cloud never import each other"),
    ("wire/framing.py", FUNCTION, "from roamline.board import profile", "wire imports no other room"),
    ("board/gpio.py", MODULE, "import roamline.wire.errors", "board imports no other room"),
    ("cloud/registry.py", TYPE_ONLY, "from roamline.hil import rig", "no product room imports hil"),
    ("firmware/app.py", FUNCTION, "import roamline.hil.pcsc", "no product room imports hil"),
    ("provisioning/enroll.py", MODULE, "import roamline.firmware.store",
     "provisioning imports only wire and firmware's config types"),
    ("firmware/config.py", FUNCTION, "from roamline.firmware import store",
     "firmware's config types import only wire"),
    ("cli/main.py", FUNCTION, "import roamline.firmware.commands", "the cli face imports no room"),
]


@pytest.mark.parametrize(("path", "shape", "imp", "contract"), PLANTS, ids=[p[0] for p in PLANTS])
def test_a_planted_forbidden_import_breaks_lint(tree_copy: Path, path: str, shape: str, imp: str,
                                                contract: str) -> None:
    target = tree_copy / "roamline" / path
    original = target.read_text()
    try:
        target.write_text(original + shape.format(imp=imp))
        done = lint_imports(tree_copy, tree_copy)
    finally:
        target.write_text(original)
    assert done.returncode != 0, done.stdout
    broken = done.stdout.split("Broken contracts", 1)[1]
    assert contract in broken
    assert imp.split()[1] in broken  # the report names the planted import


def test_ruff_refuses_bare_room_imports(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("".join(f"import {room}\n" for room in ROOMS)
                   + "\n\ndef f() -> None:\n    from board.profile import load_profile\n")
    good = tmp_path / "good.py"
    good.write_text("".join(f"import roamline.{room}\n" for room in ROOMS))
    cmd = [str(BIN / "ruff"), "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"),
           "--select", "TID251", "--output-format", "concise"]
    done = subprocess.run([*cmd, str(bad)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    flagged = [line for line in done.stdout.splitlines() if "TID251" in line]
    assert len(flagged) == len(ROOMS) + 1
    for room in ROOMS:
        assert f"`{room}` is banned" in done.stdout
    done = subprocess.run([*cmd, str(good)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("room", ROOMS)
def test_no_room_is_importable_under_a_bare_name(room: str) -> None:
    spec = importlib.util.find_spec(room)
    # Another distribution may own the name (Adafruit Blinka's `board` on a Pi), never this checkout.
    assert spec is None or not str(spec.origin or "").startswith(str(ROOT))
    assert all(Path(entry or ".").resolve() != ROOT for entry in sys.path)


def test_no_file_is_loaded_under_two_names() -> None:
    for info in pkgutil.walk_packages(roamline.__path__, "roamline."):
        importlib.import_module(info.name)
    names: dict[Path, list[str]] = {}
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file:
            continue
        real = Path(file).resolve()
        if real.is_relative_to(ROOT) and not real.is_relative_to(ROOT / ".venv"):
            names.setdefault(real, []).append(name)
    rooms = [p for p in names if p.relative_to(ROOT).parts[0] in ROOMS]
    assert len(rooms) > 150  # every room module was imported and counted
    twice = {str(p): n for p, n in names.items() if len(n) > 1}
    assert twice == {}
    for path in rooms:
        (name,) = names[path]
        assert name.startswith("roamline."), (path, name)
