"""`make test` replays the fuzz corpus: every input kept under fuzz/corpus/NAME goes through its harness's
target, and only the parser's documented error types may escape (``make fuzz`` runs the fuzzers)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"
CORPUS = FUZZ / "corpus"


def _fuzz_package() -> types.ModuleType:
    """The checkout's fuzz/ folder as the package ``fuzz``, without putting the repository root on
    sys.path (that would make the rooms importable under bare names; see tests/conftest.py)."""
    if "fuzz" not in sys.modules:
        spec = importlib.util.spec_from_file_location("fuzz", FUZZ / "__init__.py",
                                                      submodule_search_locations=[str(FUZZ)])
        assert spec is not None and spec.loader is not None
        package = importlib.util.module_from_spec(spec)
        sys.modules["fuzz"] = package
        spec.loader.exec_module(package)
    return sys.modules["fuzz"]


_fuzz_package()
check = importlib.import_module("fuzz._harness").check
HARNESSES: tuple[str, ...] = importlib.import_module("fuzz.run").HARNESSES


def test_every_harness_has_a_corpus_and_every_corpus_a_harness() -> None:
    assert sorted(p.name for p in CORPUS.iterdir() if p.is_dir()) == sorted(HARNESSES)
    for name in HARNESSES:
        assert any((CORPUS / name).iterdir()), name


@pytest.mark.parametrize("name", HARNESSES)
def test_corpus_replays(name: str) -> None:
    module = importlib.import_module(f"fuzz.{name}")
    files = sorted((CORPUS / name).iterdir())
    for path in files:
        check(module, path.read_bytes())  # raises (fails) if anything but module.EXPECTED escapes


def test_check_lets_only_documented_errors_pass() -> None:
    check(importlib.import_module("fuzz.link_frames"), b"\x01\xff\xff\xff\xff")  # too large: documented
    check(importlib.import_module("fuzz.link_messages"), b"\x00{}")  # no type: documented
    fake = types.ModuleType("fake")

    def target(data: bytes) -> None:
        raise (ValueError if data == b"v" else KeyError)("boom")

    fake.EXPECTED, fake.target = (ValueError,), target  # type: ignore[attr-defined]
    check(fake, b"v")
    with pytest.raises(KeyError):
        check(fake, b"k")
