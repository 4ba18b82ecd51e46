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


def _room_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    module = f"probe_{tmp_path.name}_cmd".replace("-", "_")  # a fresh module name per test
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(body))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(face, "_rooms", lambda: {"t": _FakeEP({"probe": module})})


def test_a_room_usage_error_exits_2_and_a_peer_error_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    _room_with(tmp_path, monkeypatch, """
        from roamline.cloud.errors import PeerError, UsageError
        from roamline.wire.config import ConfigError
        SUMMARY = "probe"
        def configure(parser):
            parser.add_argument("what")
        def run(args):
            raise {"usage": UsageError, "config": ConfigError, "peer": PeerError}[args.what]("it broke")
    """)
    assert face.main(["t", "probe", "usage"]) == 2
    assert face.main(["t", "probe", "config"]) == 2  # a subclass of a room's UsageError
    assert face.main(["t", "probe", "peer"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["roamline: UsageError: it broke", "roamline: ConfigError: it broke",
                   "roamline: PeerError: it broke"]


def test_traceback_only_with_debug(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    _room_with(tmp_path, monkeypatch, """
        SUMMARY = "probe"
        def configure(parser):
            pass
        def run(args):
            return {}["missing"]
    """)
    assert face.main(["t", "probe"]) == face.EXIT_BUG  # not a Roamline error: a bug, and it says so
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip() == (
        "roamline: internal error (a bug): KeyError: 'missing'; rerun with --debug for the traceback")
    assert face.main(["--debug", "t", "probe"]) == face.EXIT_BUG
    assert "Traceback" in capsys.readouterr().err


def test_a_broken_validator_or_configure_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    _room_with(tmp_path, monkeypatch, """
        SUMMARY = "probe"
        def explode(text):
            raise OSError(5, "I/O error")
        def configure(parser):
            parser.add_argument("--x", type=explode)
        def run(args):
            return 0
    """)
    assert face.main(["t", "probe", "--x", "1"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_argument_errors_are_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert face.main(["cloud", "where"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "required" in err[0] and "--data" in err[0]
    assert face.main(["--nonsense"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_help_returns_0_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert face.main(["cloud", "where", "--help"]) == 0
    assert "usage: roamline cloud where" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [[], ["cloud"], ["cloud", "frobnicate"], ["box", "diag"]])
def test_no_command_is_a_one_line_usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert face.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("roamline: ")
