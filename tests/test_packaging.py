"""The distribution's package list (pyproject.toml): every package is a real one, data folders are data.

`roamline` is the only namespace package; each folder under it without an __init__.py is a data folder,
kept out of the packages and shipped as package data of its parent (scripts/wheel_smoke.sh then proves
the built wheel carries every file).
"""

from __future__ import annotations

import fnmatch
import os
import tomllib
from pathlib import Path

from setuptools.discovery import PackageFinder, PEP420PackageFinder

ROOT = Path(__file__).resolve().parent.parent
CONF = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def packages() -> list[str]:
    find = CONF["packages"]["find"]
    finder = PEP420PackageFinder if find.get("namespaces", True) else PackageFinder
    return finder.find(str(ROOT), exclude=find.get("exclude", ()), include=find["include"])


def folders() -> list[tuple[str, Path]]:
    """Every folder under roamline/ (through its links), as (dotted name, path)."""
    out = []
    for top, dirs, _ in os.walk(ROOT / "roamline", followlinks=True):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        path = Path(top)
        out.append((".".join(path.relative_to(ROOT).parts), path))
    return out


def test_every_package_but_the_namespace_has_an_init() -> None:
    found = packages()
    assert "roamline" in found and "roamline.firmware.line" in found
    for name in found:
        if name != "roamline":
            assert (ROOT / Path(*name.split(".")) / "__init__.py").is_file(), name


def test_code_folders_are_packages_and_data_folders_are_package_data() -> None:
    found = set(packages())
    data = CONF["package-data"]
    data_folders = 0
    for name, path in folders():
        if name == "roamline":
            continue
        if (path / "__init__.py").is_file():
            assert name in found, f"{name} is not in the distribution"
            continue
        assert not list(path.glob("*.py")), f"{name} has modules but no __init__.py"
        assert name not in found, f"data folder {name} would ship as a namespace package"
        parent, _, folder = name.rpartition(".")
        patterns = data.get(parent, [])
        for file in path.iterdir():
            if file.is_file():
                assert any(fnmatch.fnmatch(f"{folder}/{file.name}", p) for p in patterns), \
                    f"{file.relative_to(ROOT)} is not package data of {parent}"
        data_folders += 1
    # board/profiles, firmware/audio/toneplans, firmware/line/profiles, wire/pidf_schemas,
    # firmware/dialplan/plans, hil/rigs
    assert data_folders == 6
