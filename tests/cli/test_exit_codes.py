"""The face maps the one exception tree to exit statuses: usage 2, peer/system 1, a bug 70 (EX_SOFTWARE).

Each failure is one line on stderr; a bug says it is one and shows its traceback only under ``--debug``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from roamline.cli import main as face

# Leaf command bodies, each raising one kind of exception (a room's real error class where there is one).
RAISES = {
    "usage": "from roamline.cloud.errors import StoreError\nraise StoreError('no store at /nowhere')",
    "board-usage": "from roamline.board.errors import UsageError\nraise UsageError('no pin 99')",
    "peer": "from roamline.wire.errors import LinkClosed\nraise LinkClosed('cannot connect: refused')",
    "card": "from roamline.firmware.card.errors import PinBlocked\nraise PinBlocked(0x6983)",
    "system": "raise FileNotFoundError(2, 'No such file or directory', '/nowhere/box.toml')",
    "bug": "raise KeyError('holder')",
    "bug2": "raise RuntimeError('the modem did not answer\\nsecond line')",
    "group-system": "raise ExceptionGroup('in a TaskGroup', [OSError(30, 'Read-only file system')])",
    "group-usage": "from roamline.cloud.errors import StoreError\n"
                   "raise BaseExceptionGroup('g', [ExceptionGroup('h', [StoreError('no store')])])",
    "group-bugs": "raise ExceptionGroup('g', [KeyError('holder'), RuntimeError('gps')])",
}


@pytest.fixture
def room(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test room ``t`` whose commands raise what RAISES says; ``t need`` requires ``--x``."""
    table = {}
    for name, body in RAISES.items():
        module = f"exit_case_{name.replace('-', '_')}"
        (tmp_path / f"{module}.py").write_text(
            "SUMMARY = 'raises'\ndef configure(parser):\n    parser.add_argument('--x', required=True)\n"
            "def run(args):\n" + textwrap.indent(body, "    ") + "\n")
        table[name] = module
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(face, "_rooms", lambda: {"t": _FakeEP(table)})


class _FakeEP:
    def __init__(self, table: dict[str, str]) -> None:
        self.table = table

    def load(self) -> dict[str, str]:
        return self.table


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    status = face.main(list(argv))
    return status, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize(("case", "status", "line"), [
    ("usage", 2, "roamline: StoreError: no store at /nowhere"),
    ("board-usage", 2, "roamline: UsageError: no pin 99"),
    ("peer", 1, "roamline: LinkClosed: cannot connect: refused"),
    ("card", 1, "roamline: PinBlocked: card status 6983"),
    ("system", 1, "roamline: FileNotFoundError: [Errno 2] No such file or directory: '/nowhere/box.toml'"),
    ("group-system", 1, "roamline: OSError: [Errno 30] Read-only file system"),  # one task's failure
    ("group-usage", 2, "roamline: StoreError: no store"),
])
def test_usage_and_peer_errors_are_one_line_with_their_status(
        room: None, capsys: pytest.CaptureFixture[str], case: str, status: int, line: str) -> None:
    assert _run(capsys, "t", case, "--x", "1") == (status, [line])


def test_an_argument_error_is_one_line_and_a_usage_error(room: None,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    status, err = _run(capsys, "t", "peer")
    assert status == 2
    assert err == ["roamline t peer: the following arguments are required: --x (see --help)"]
    status, err = _run(capsys, "t", "peer", "--x", "1", "--nonsense")
    assert status == 2 and len(err) == 1 and "unrecognized arguments: --nonsense" in err[0]


@pytest.mark.parametrize(("case", "what"), [
    ("bug", "KeyError: 'holder'"), ("bug2", "RuntimeError: the modem did not answer")])
def test_any_other_exception_is_reported_as_a_bug(
        room: None, capsys: pytest.CaptureFixture[str], case: str, what: str) -> None:
    status, err = _run(capsys, "t", case, "--x", "1")
    assert status == face.EXIT_BUG == 70
    assert err == [f"roamline: internal error (a bug): {what}; rerun with --debug for the traceback"]


def test_several_failed_tasks_are_a_bug_naming_each(room: None, capsys: pytest.CaptureFixture[str]) -> None:
    status, err = _run(capsys, "t", "group-bugs", "--x", "1")
    assert status == face.EXIT_BUG
    assert err == ["roamline: internal error (a bug): 2 tasks failed: KeyError: 'holder'; RuntimeError: gps; "
                   "rerun with --debug"]


def test_debug_shows_the_traceback_of_a_bug(room: None, capsys: pytest.CaptureFixture[str]) -> None:
    status, err = _run(capsys, "--debug", "t", "bug", "--x", "1")
    assert status == 70
    assert err[0] == "Traceback (most recent call last):"
    assert any("exit_case_bug.py" in line for line in err) and "KeyError: 'holder'" in err
    assert err[-1].startswith("roamline: internal error (a bug): KeyError")


def test_debug_shows_the_traceback_of_a_peer_error_too(room: None,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    status, err = _run(capsys, "--debug", "t", "peer", "--x", "1")
    assert status == 1 and err[0] == "Traceback (most recent call last):"
    assert err[-1] == "roamline: LinkClosed: cannot connect: refused"


def _roamline(*argv: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("roamline")
    return subprocess.run([str(exe), *argv], capture_output=True, text=True, check=False, timeout=60)


def test_real_commands_map_the_same_way(tmp_path: Path) -> None:
    bad = tmp_path / "box.toml"
    bad.write_text("nonsense = 1\n")
    usage = _roamline("box", "run", "--config", str(bad))  # a ConfigError: a wire UsageError
    assert usage.returncode == 2, usage.stderr
    assert usage.stderr.strip().splitlines() == [
        f"roamline: ConfigError: {bad}: nonsense: unknown field"]
    args = _roamline("box", "run")
    assert args.returncode == 2
    assert args.stderr.strip().splitlines() == [
        "roamline box run: the following arguments are required: --config (see --help)"]
    wav = tmp_path / "bad.wav"
    wav.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    peer = _roamline("box", "diag", "dtmf", str(wav))  # a MediaError: a firmware PeerError
    assert peer.returncode == 1 and len(peer.stderr.strip().splitlines()) == 1
    assert peer.stderr.startswith("roamline: MediaError: ")
