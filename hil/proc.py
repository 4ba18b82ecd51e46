"""Child processes for rigs: started with a readiness line, output kept for diagnosis, always stopped."""

from __future__ import annotations

import collections
import logging
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence

from roamline.hil.errors import PeerError

log = logging.getLogger(__name__)


class ProcessFailed(PeerError):
    """A child process exited or did not become ready in time; the message carries its last output."""


KEEP_LINES = 4000  # output lines kept per process (for diagnosis and ``wait_for``)


class ManagedProcess:
    """One child process. ``start`` waits until a line matches ``ready``; ``stop`` is idempotent.

    Output lines are numbered from the first one the process printed: :meth:`mark` is the number the
    next line will have, and ``wait_for(after=mark)`` looks only at lines from there on (however many
    older lines have been dropped from what is kept)."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None,
                 ready: str | None = None, cwd: str | None = None) -> None:
        self.name = name
        self._argv = list(argv)
        self._env = dict(os.environ, **(env or {}))
        self._ready = re.compile(ready) if ready else None
        self._cwd = cwd
        self._proc: subprocess.Popen[str] | None = None
        self._lines: collections.deque[str] = collections.deque(maxlen=KEEP_LINES)
        self._count = 0  # lines seen in all (marks count from the first line, past what is kept)
        self._cond = threading.Condition()
        self._reader: threading.Thread | None = None
        self._ready_match: re.Match[str] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, timeout: float = 20.0) -> re.Match[str] | None:
        if self._proc is not None:
            return self._ready_match
        log.debug("spawn", extra={"fields": {"name": self.name, "argv": " ".join(self._argv)}})
        self._proc = subprocess.Popen(
            self._argv, env=self._env, cwd=self._cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, text=True, bufsize=1, start_new_session=True,
        )
        self._reader = threading.Thread(target=self._pump, name=f"proc-{self.name}", daemon=True)
        self._reader.start()
        if self._ready is None:
            return None
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._ready_match is None:
                if self._proc.poll() is not None:
                    raise ProcessFailed(f"{self.name} exited with {self._proc.returncode}: {self.tail()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ProcessFailed(f"{self.name} not ready after {timeout:.0f}s: {self.tail()}")
                self._cond.wait(min(left, 0.1))
        return self._ready_match

    def _pump(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            line = line.rstrip("\n")
            with self._cond:
                self._lines.append(line)
                self._count += 1
                if self._ready is not None and self._ready_match is None:
                    self._ready_match = self._ready.search(line)
                self._cond.notify_all()

    def wait_for(self, pattern: str, timeout: float = 10.0, after: int = 0) -> re.Match[str]:
        """Wait for a line matching ``pattern`` among output lines numbered ``after`` (a :meth:`mark`)
        and later."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                first_kept = self._count - len(self._lines)
                for line in list(self._lines)[max(0, after - first_kept):]:
                    m = rx.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ProcessFailed(f"{self.name}: no line matching {pattern!r} in {timeout:.0f}s; "
                                        f"last output: {self.tail(12)}")
                self._cond.wait(min(left, 0.1))

    def output(self) -> list[str]:
        """The kept output lines (the last ``KEEP_LINES``)."""
        with self._cond:
            return list(self._lines)

    def mark(self) -> int:
        """The number the next output line will have (for ``wait_for(after=…)``)."""
        with self._cond:
            return self._count

    def tail(self, n: int = 8) -> str:
        return " | ".join(self.output()[-n:])

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout: float = 5.0) -> int | None:
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout)
        if self._reader is not None:
            self._reader.join(timeout)
        self._ready_match = None
        return proc.returncode

    def __enter__(self) -> ManagedProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
