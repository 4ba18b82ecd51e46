"""The `roamline` face: discovery through entry points, help, one-line failures."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from roamline.cli import main as face
from roamline.cli import tree


def test_lists_every_room(capsys: pytest.CaptureFixture[str]) -> None:
    assert face.main(["--help"]) == 0
    out = capsys.readouterr().out
    for room in ("box", "cloud", "provision", "hil", "demo", "bench"):
        assert f"  {room}\n" in out


def test_unknown_room_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert face.main(["nosuchroom"]) == 2
    assert "no room 'nosuchroom'" in capsys.readouterr().err


def test_longest_match_wins() -> None:
    table = {"diag": "a", "diag modem": "b", "run": "c"}
    assert tree.match(table, ["diag", "modem", "--json"]) == ("diag modem", 2)
    assert tree.match(table, ["run", "--config", "x"]) == ("run", 1)
    with pytest.raises(tree.CommandNotFound):
        tree.match(table, ["frobnicate"])


def test_a_failing_command_exits_nonzero_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "failing_cmd.py").write_text(textwrap.dedent("""
        SUMMARY = "always fails"
        def configure(parser):
            parser.add_argument("--x")
        def run(args):
            from roamline.firmware.line.errors import ModemTimeout
            raise ModemTimeout("the modem did not answer\\nsecond line")
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(face, "_rooms", lambda: {"t": _FakeEP({"fail": "failing_cmd"})})
    assert face.main(["t", "fail", "--x", "1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["roamline: ModemTimeout: the modem did not answer"]


class _FakeEP:
    def __init__(self, table: dict[str, str]) -> None:
        self.table = table

    def load(self) -> dict[str, str]:
        return self.table


def test_console_script_runs() -> None:
    exe = Path(sys.executable).with_name("roamline")
    done = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "rooms:" in done.stdout
