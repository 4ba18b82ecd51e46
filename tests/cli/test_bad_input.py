"""Every `roamline` command × every class of bad input, generated from the command tree.

The commands come from the rooms' command tables (the ``roamline.rooms`` entry points, as the face
finds them); each command's options come from its own argparse parser. Every option is classified by its
declared type: a :class:`roamline.wire.validate.Validator` (its ``kind``), argparse ``choices``, or a
flag. An option of no known class fails :func:`test_every_option_has_a_declared_class`, so a new command
cannot slip past this table.

For each option, each bad value of its class is fed with every other required option given a good
value, and the command must: exit 2, print one line on stderr naming the option, no traceback, nothing
on stdout, and write nothing (the current directory and the fixture tree stay unchanged).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from roamline.cli import main as face
from roamline.cli import tree
from roamline.wire import validate

LONG = "x" * 300
CTRL = "ab\x1b[2Jcd"


@dataclass(frozen=True)
class Command:
    room: str
    words: str
    module: str

    @property
    def argv(self) -> list[str]:
        return [self.room, *self.words.split()]

    @property
    def name(self) -> str:
        return " ".join(self.argv)

    def parser(self) -> argparse.ArgumentParser:
        return tree.parser_for(f"roamline {self.name}", tree.load(self.module))


def all_commands() -> list[Command]:
    found = []
    for ep in entry_points(group=face.GROUP):
        for words, module in ep.load().items():
            found.append(Command(ep.name, words, module))
    return sorted(found, key=lambda c: c.name)


COMMANDS = all_commands()


def options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]


def classify(action: argparse.Action) -> str | None:
    """The declared class of an option, or None when it has none (a test failure)."""
    if action.nargs == 0:
        return "flag"
    if isinstance(action.type, validate.Validator):
        return action.type.kind
    if action.choices is not None and action.type is None:
        return "choice"
    return None


# --- the world the commands see: good values to fill required options, and files of every sort ----


@dataclass
class World:
    root: Path
    data: Path  # a registry data directory (`cloud ca init`)
    file: Path  # a readable regular file
    sock: Path  # a listening Unix socket
    empty: Path
    text: Path  # not PEM
    key_pem: Path  # PEM, but a key, not a certificate
    torn_pem: Path  # a certificate cut in half

    @property
    def ca(self) -> Path:
        return self.data / "ca.pem"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("world")
    data = root / "registry"
    assert face.main(["cloud", "ca", "init", "--data", str(data)]) == 0
    (root / "file.txt").write_text("hello\n")
    (root / "empty").write_bytes(b"")
    (root / "text.pem").write_text("this is not a certificate\n")
    pem = (data / "ca.pem").read_text()
    (root / "torn.pem").write_text(pem[: len(pem) // 2])
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(str(root / "control.sock"))
    srv.listen()
    try:
        yield World(root, data, root / "file.txt", root / "control.sock", root / "empty", root / "text.pem",
                    data / "ca.key", root / "torn.pem")
    finally:
        srv.close()


def good_number(v: validate.Number) -> str:
    for candidate in (1, 2, 10, 100, 1000, v.lo, v.hi):
        if candidate is None:
            continue
        text = str(int(candidate)) if v.integer else str(candidate)
        try:
            v.check(text)
            return text
        except Exception:
            continue
    raise AssertionError(f"no good value found for {v!r}")


def good(action: argparse.Action, w: World) -> str | None:
    """A value the option accepts (None: a flag)."""
    kind, v = classify(action), action.type
    if kind == "flag":
        return None
    if kind == "choice":
        assert action.choices is not None
        return str(next(iter(action.choices)))
    values: dict[str, Callable[[], str]] = {
        "number": lambda: good_number(v),  # type: ignore[arg-type]
        "numbers": lambda: good_number(v.item) + "," + good_number(v.item),  # type: ignore[union-attr]
        "port": lambda: "4433",
        "identifier": lambda: "acct-1",
        "name": lambda: "Ann Example",
        "phone": lambda: "+15550100001",
        "digits": lambda: "5551000",
        "token": lambda: "rlt_abcdefgh12345678",
        "pin": lambda: "123456",
        "hex": lambda: "ab" * 16,
        "dnsname": lambda: "registry.roamline",
        "host": lambda: "127.0.0.1",
        "hostport": lambda: "127.0.0.1:4433",
        "file": lambda: str(w.file),
        "pem": lambda: str(w.ca),
        "dir": lambda: str(w.data),
        "anydir": lambda: str(w.root),
        "outdir": lambda: str(w.root / "new-dir"),
        "outfile": lambda: str(w.root / "new-file.toml"),
        "socket": lambda: str(w.sock),
        "device": lambda: "loop://",
        "oneof": lambda: sorted(v.names())[0],  # type: ignore[union-attr]
        "fileorname": lambda: sorted(v.names())[0],  # type: ignore[union-attr]
        "json": lambda: '{"op": "status"}',
        "spec": lambda: v.example,  # type: ignore[union-attr]
    }
    return values[str(kind)]()


def bad_numbers(v: validate.Number) -> list[str]:
    out = ["nan", "NaN", "inf", "-inf", "1e999", "abc", "", LONG, "1,5"]
    if v.lo is not None:
        out.append(str(int(v.lo) - 1) if v.integer else str(v.lo - 1))
        if v.lo_open:
            out.append(str(int(v.lo)) if v.integer else str(v.lo))
        if v.lo >= 0:
            out.append("-1")
    if v.hi is not None:
        out.append(str(int(v.hi) * 10 + 1))
    if v.integer:
        out.append("1.5")
    return out


def bad(action: argparse.Action, w: World) -> list[str]:
    """The bad values of the option's class (the table this test is about)."""
    kind, v = classify(action), action.type
    missing = str(w.root / "missing" / "nothing")
    under_file = str(w.file / "x")
    files = ["", missing, str(w.root), LONG, under_file]
    names = ["", "   ", LONG, CTRL, "a\nb", "a\tb", "\u202eevil"]
    table: dict[str, Callable[[], list[str]]] = {
        "number": lambda: bad_numbers(v),  # type: ignore[arg-type]
        "numbers": lambda: ["", "nan", "-1,2", "0,0", "1,inf", "a,b", "1,", LONG, ",".join(["1"] * 40)],
        "port": lambda: [*([] if v.allow_zero else ["0"]), "-1", "65536", "70000", "abc", "", "nan",  # type: ignore[union-attr]
                         LONG, "1.5"],
        "identifier": lambda: ["", LONG, CTRL, "a b", "../x", "é", "a/b", "x" * 65, "-x"],
        "name": lambda: names,
        "phone": lambda: ["", "+1abc", "15550100001", "+1", "+1555", "+999123456", "+1 555 010 0001",
                          LONG, "+15550100001\x07", "+0123456789", "+1555010000100000"],
        "digits": lambda: ["", "abc", "12", "12 34", LONG, "555\x07", "1" * 16],
        "token": lambda: ["", "short", LONG, "rlt_abc def ghi", CTRL],
        "pin": lambda: ["", "12345", "123456789", "12345a", LONG, "١٢٣٤٥٦"],
        "hex": lambda: ["", "xyz", "ab" * 15, "ab" * 17, LONG, "g" * 32],
        "dnsname": lambda: ["", LONG, "a b", "-bad", "a..b", CTRL, "http://x", "bad_name", "a" * 64 + ".x"],
        "host": lambda: ["", LONG, "a b", "-bad", "a..b", CTRL, "http://x", "bad_name"],
        "hostport": lambda: ["", "host", "host:0", "host:70000", ":4433", "host:abc", LONG, "a b:1",
                             "host:nan"],
        "file": lambda: files,
        "pem": lambda: [*files, str(w.text), str(w.empty), str(w.key_pem), str(w.torn_pem)],
        "dir": lambda: ["", missing, str(w.file), LONG, under_file, str(w.root)],  # root: not a registry
        "anydir": lambda: ["", missing, str(w.file), LONG, under_file],
        "outdir": lambda: ["", str(w.file), under_file, LONG],
        "outfile": lambda: ["", str(w.root), under_file, LONG, *([] if v.overwrite else [str(w.file)])],  # type: ignore[union-attr]
        "socket": lambda: ["", missing, str(w.file), str(w.root), LONG],
        "device": lambda: ["", missing, str(w.root), "nosuch://x", LONG, under_file],
        "oneof": lambda: ["", "nosuch", LONG, "../x", CTRL],
        "fileorname": lambda: ["", "nosuch", LONG, "./missing.toml", str(w.root) + "/", CTRL],
        "json": lambda: ["", "{", "[]", "1", '"x"', LONG, "{'op': 1}"],
        "spec": lambda: ["", LONG, CTRL, ":::::", "=", "\x00"],
        "choice": lambda: ["nosuch", "", LONG],
    }
    return table[str(kind)]()


# --- the cases -------------------------------------------------------------------------------------


def argv_with(cmd: Command, w: World, target: argparse.Action, value: str) -> list[str]:
    """The command with every required option and positional given a good value, and ``target`` given
    ``value`` (options as ``--opt=value`` so values starting with '-' stay values)."""
    opts: list[str] = []
    positionals: list[str] = []
    for action in options(cmd.parser()):
        chosen = value if action.dest == target.dest else None
        if chosen is None and not (action.required or not action.option_strings):
            continue
        if chosen is None:
            chosen = good(action, w)
        if not action.option_strings:
            positionals.append(str(chosen))
        elif chosen is not None:
            opts.append(f"{action.option_strings[-1]}={chosen}")
    return [*cmd.argv, *opts, *(["--", *positionals] if positionals else [])]


def cases() -> list[Any]:
    """(command, option dest, value index) for every option of every command; values are made per world."""
    out = []
    for cmd in COMMANDS:
        for action in options(cmd.parser()):
            if classify(action) in (None, "flag"):
                continue
            n = len(bad(action, _PLACEHOLDER))
            for i in range(n):
                out.append(pytest.param(cmd, action.dest, i, id=f"{cmd.name}-{action.dest}-{i}"))
    return out


_PLACEHOLDER = World(*(Path("/nonexistent/placeholder"),) * 8)


def snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    seen = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                p = Path(dirpath) / name
                st = p.lstat()
                seen[str(p)] = (st.st_size, st.st_mtime_ns)
    return seen


NOT_REFUSED = 99


class _Unrun:
    """A command module whose ``run`` never acts: a value that passes parsing is reported, not run."""

    def __init__(self, module: Any) -> None:
        self.SUMMARY, self.configure = module.SUMMARY, module.configure

    def run(self, args: argparse.Namespace) -> int:
        return NOT_REFUSED


def run_in_process(argv: list[str], capsys: pytest.CaptureFixture[str],
                   monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[int, str, str]:
    if monkeypatch is not None:
        load = tree.load
        monkeypatch.setattr(tree, "load", lambda name: _Unrun(load(name)))
    rc = face.main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize(("cmd", "dest", "index"), cases())
def test_bad_value_is_refused_before_acting(cmd: Command, dest: str, index: int, world: World,
                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    target = next(a for a in options(cmd.parser()) if a.dest == dest)
    value = bad(target, world)[index]
    argv = argv_with(cmd, world, target, value)
    monkeypatch.chdir(tmp_path)
    before = snapshot(world.root, tmp_path)
    rc, out, err = run_in_process(argv, capsys, monkeypatch)
    lines = err.strip().splitlines()
    assert rc != NOT_REFUSED, f"{argv!r}: the value was accepted"
    assert rc == 2, f"{argv!r}: exit {rc}, stderr {err!r}"
    assert len(lines) == 1, f"{argv!r}: stderr is not one line: {err!r}"
    name = "/".join(target.option_strings) or (target.metavar or target.dest)
    assert f"argument {name}" in lines[0], f"{argv!r}: the reason does not name the option: {lines[0]!r}"
    assert "Traceback" not in err and out == ""
    assert snapshot(world.root, tmp_path) == before, f"{argv!r} wrote something"


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: c.name)
def test_every_option_has_a_declared_class(cmd: Command) -> None:
    unclassified = [a.option_strings or [a.dest] for a in options(cmd.parser()) if classify(a) is None]
    assert not unclassified, f"roamline {cmd.name}: options without a validator type: {unclassified}"


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: c.name)
def test_every_command_has_help_and_refuses_unknown_options(cmd: Command, world: World, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Also the commands with no options of their own are in the table: --help, an unknown option, and
    a value given to each flag."""
    monkeypatch.chdir(tmp_path)
    before = snapshot(world.root, tmp_path)
    rc, out, _ = run_in_process([*cmd.argv, "--help"], capsys)
    flat = out.replace(" ", "").replace("\n", "")
    assert rc == 0 and f"usage: roamline {cmd.name}".replace(" ", "") in flat
    rc, out, err = run_in_process([*cmd.argv, "--no-such-option"], capsys)
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err and out == ""
    for flag in (a for a in options(cmd.parser()) if classify(a) == "flag" and a.option_strings):
        rc, out, err = run_in_process([*cmd.argv, f"{flag.option_strings[-1]}=yes"], capsys)
        assert rc == 2 and flag.option_strings[-1] in err and len(err.strip().splitlines()) == 1
    assert snapshot(world.root, tmp_path) == before


def test_the_table_covers_every_command() -> None:
    """The enumeration finds the rooms' commands (a broken entry point would empty the table)."""
    rooms = {c.room for c in COMMANDS}
    assert {"box", "cloud", "provision", "hil", "demo", "bench"} <= rooms
    assert len(COMMANDS) >= 20
    assert sum(1 for c in cases()) > 500


def test_an_option_without_a_declared_type_is_caught() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int)
    parser.add_argument("--name")
    parser.add_argument("--ok", type=validate.Port())
    parser.add_argument("--flag", action="store_true")
    assert [classify(a) for a in options(parser)] == [None, None, "port", "flag"]


def test_top_level_log_level_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    for value in ("nope", "", LONG):
        rc, _, err = run_in_process(["--log-level", value, "cloud", "where", "--help"], capsys)
        assert rc == 2 and "--log-level" in err and len(err.strip().splitlines()) == 1


# --- a few through the real console script --------------------------------------------------------

EXE = str(Path(sys.executable).with_name("roamline"))


@pytest.mark.parametrize("argv", [
    ["cloud", "serve", "--data", "{data}", "--port", "70000"],
    ["cloud", "ca", "init", "--data", ""],
    ["cloud", "account", "create", "--data", "{data}", "--name", "Ann", "--number", "+1abc"],
    ["provision", "box", "enroll", "--registry", "127.0.0.1:9", "--ca", "{text}", "--token", "rlt_abcdefgh",
     "--out", "{out}"],
    ["box", "diag", "dtmf", "{root}"],
    ["bench", "line", "--seconds", "nan"],
])
def test_console_script_refuses_in_one_line(argv: list[str], world: World, tmp_path: Path) -> None:
    subs = {"data": str(world.data), "text": str(world.text), "out": str(tmp_path / "out"),
            "root": str(world.root)}
    real = [a.format(**subs) for a in argv]
    before = snapshot(world.root, tmp_path)
    done = subprocess.run([EXE, *real], capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert done.stdout == ""
    assert snapshot(world.root, tmp_path) == before


@pytest.mark.filterwarnings("ignore")
def test_any_value_is_accepted_or_refused_in_one_line(world: World, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Property over the whole tree: whatever text reaches an option, the command either accepts it
    (and would run) or refuses it with exit 2 and one line; never another exit, never a traceback."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    targets = [(cmd, a.dest) for cmd in COMMANDS for a in options(cmd.parser())
               if classify(a) not in (None, "flag")]
    monkeypatch.chdir(tmp_path)
    load = tree.load
    monkeypatch.setattr(tree, "load", lambda name: _Unrun(load(name)))
    text = st.text(st.characters(blacklist_characters="\x00"), max_size=40)

    examples = int(os.environ.get("ROAMLINE_CLI_EXAMPLES", "100"))  # 2,000 ran clean once (50 s)

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.sampled_from(targets), text)
    def check(target: tuple[Command, str], value: str) -> None:
        cmd, dest = target
        action = next(a for a in options(cmd.parser()) if a.dest == dest)
        rc = face.main(argv_with(cmd, world, action, value))
        out, err = capsys.readouterr()
        assert rc in (2, NOT_REFUSED), (cmd.name, dest, value, rc, err)
        if rc == 2:
            assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and out == ""

    before = snapshot(world.root, tmp_path)
    check()
    assert snapshot(world.root, tmp_path) == before
