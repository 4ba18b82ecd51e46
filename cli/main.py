"""`roamline ROOM WORDS... [ARGS]`: the thin face over the rooms' command tables.

Exit statuses: 0 done; 1 the command failed because something outside us misbehaved (a
``RoamlinePeerError``, or the operating system refused: ``OSError``); 2 a usage error (bad arguments,
or a ``RoamlineUsageError``: bad input or configuration); 70 (``EX_SOFTWARE``) an internal error, i.e.
a bug: any other exception. Every failure is one line on stderr; ``--debug`` adds the traceback.
130 after Ctrl-C. A command may also return its own non-zero status.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from importlib.metadata import EntryPoint, entry_points

from roamline.cli import logs, tree
from roamline.errors import RoamlinePeerError, RoamlineUsageError

GROUP = "roamline.rooms"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
USAGE = "usage: roamline [--log-level LEVEL] [--log-json] [--debug] ROOM COMMAND... [ARGS]"

EXIT_FAILED = 1  # a peer misbehaved or the system refused
EXIT_USAGE = 2  # we were misused: arguments, input, configuration
EXIT_BUG = 70  # EX_SOFTWARE (sysexits.h): an exception nobody meant to raise


def _rooms() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def _print_rooms(rooms: Mapping[str, EntryPoint]) -> None:
    print(USAGE)
    print("\nrooms:")
    for name in sorted(rooms):
        print(f"  {name}")
    print("\n`roamline ROOM --help` lists a room's commands.")


def _print_commands(prog: str, table: Mapping[str, str], words: Sequence[str]) -> None:
    listed = tree.below(table, words)
    print(f"usage: {prog} COMMAND... [ARGS]\n\ncommands:")
    width = max((len(w) for w in listed), default=0)
    for w in listed:
        print(f"  {w.ljust(width)}  {tree.summary(table[w])}")


def _fail(message: str, status: int = 1) -> int:
    print(f"roamline: {message}", file=sys.stderr)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    level, as_json, debug = os.environ.get("ROAMLINE_LOG_LEVEL", "warning"), False, False
    while args and args[0].startswith("--"):
        opt = args.pop(0)
        if opt == "--log-level" and args:
            level = args.pop(0)
        elif opt == "--log-json":
            as_json = True
        elif opt == "--debug":
            debug, level = True, "debug"
        elif opt in ("--help", "-h"):
            _print_rooms(_rooms())
            return 0
        else:
            return _fail(f"unknown option {opt} ({USAGE})", 2)
    if level.upper() not in LEVELS:
        return _fail(f"--log-level: must be one of {', '.join(LEVELS).lower()}, not {level!r}", 2)
    logs.configure(level, as_json)
    rooms = _rooms()
    if not args:
        _print_rooms(rooms)
        return _fail("no room given (listed above)", 2)
    room = args.pop(0)
    if room not in rooms:
        return _fail(f"no room {room!r} (rooms: {', '.join(sorted(rooms))})", 2)
    try:
        table: Mapping[str, str] = rooms[room].load()
    except Exception as exc:  # a broken room must not print a traceback either
        return _failed(exc, debug)
    prog = f"roamline {room}"
    if "" in table and (not args or args[0] not in {w.split()[0] for w in table if w}):
        words, used = "", 0
    else:
        try:
            words, used = tree.match(table, args)
        except tree.CommandNotFound:
            wanted = [a for a in args if not a.startswith("-")]
            _print_commands(prog, table, wanted[:1] if tree.below(table, wanted[:1]) else [])
            if any(a in ("-h", "--help") for a in args):
                return 0
            return _fail(f"{prog}: no command {' '.join(wanted[:3]) or '(none given)'!r} (listed above)", 2)
    try:
        module = tree.load(table[words])
        parser = tree.parser_for(f"{prog} {words}".strip(), module)
        parsed = parser.parse_args(args[used:])
    except tree.BadArguments as exc:
        print(f"{exc} (see --help)", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    except Exception as exc:  # a broken command module or a validator's own bug: still one line
        return _failed(exc, debug)
    try:
        return int(module.run(parsed))
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as exc:  # one-line reason; the traceback only with --debug
        return _failed(exc, debug)


def _leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions an exception group (a TaskGroup's, nested or not) holds."""
    if not isinstance(exc, BaseExceptionGroup):
        return [exc]
    return [leaf for sub in exc.exceptions for leaf in _leaves(sub)]


def failure(exc: BaseException) -> tuple[int, str]:
    """The exit status and the one-line reason for an exception that ended a command.

    A task group's failure is judged by what it holds: one exception as that exception (an OSError in a
    box task is a failure, not a bug), several as a bug naming each."""
    leaves = _leaves(exc)
    if len(leaves) == 1:
        exc = leaves[0]
    elif isinstance(exc, BaseExceptionGroup):
        named = "; ".join(f"{type(e).__name__}: {e}".splitlines()[0] for e in leaves)
        return EXIT_BUG, f"internal error (a bug): {len(leaves)} tasks failed: {named}; rerun with --debug"
    what = f"{type(exc).__name__}: {exc}".splitlines()[0]
    if isinstance(exc, RoamlineUsageError):
        return EXIT_USAGE, what
    if isinstance(exc, RoamlinePeerError | OSError):
        return EXIT_FAILED, what
    return EXIT_BUG, f"internal error (a bug): {what}; rerun with --debug for the traceback"


def _failed(exc: Exception, debug: bool) -> int:
    status, reason = failure(exc)
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    return _fail(reason, status)


def entry() -> None:
    """Console-script entry: like ``main`` but quiet when the reader of our output goes away (``| head``)."""
    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 141
    sys.exit(status)


if __name__ == "__main__":
    entry()
