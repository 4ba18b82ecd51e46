"""The thin I/O around ``firmware.service_state``: the atomic file write (temporary file, fsync, rename,
fsync of the directory), reading it back, the boot id and whether a pid runs, and :class:`StatePublisher`,
which writes the newest state on its own thread so that the event loop never waits on the disk."""

from __future__ import annotations

import concurrent.futures
import logging
import os
import threading
from pathlib import Path

from roamline.firmware.service_state import ServiceState, encode

log = logging.getLogger(__name__)
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def boot_id() -> str:
    try:
        return BOOT_ID.read_text(encoding="ascii").strip()
    except OSError:  # not Linux: freshness falls back to the heartbeat alone
        return ""


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


def write_atomic(path: Path, data: bytes) -> None:
    """``data`` at ``path``, all or nothing, durable: a reader sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class StatePublisher:
    """Writes the newest :class:`ServiceState` to ``path`` on one thread of its own. ``publish`` never
    blocks: states published while a write is under way are coalesced (only the newest is written)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._latest: ServiceState | None = None
        self._pending = False
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="box-state")
        self.writes = 0
        self.last_error: str | None = None

    def publish(self, state: ServiceState) -> None:
        with self._lock:
            self._latest = state
            if self._pending:
                return
            self._pending = True
        self._pool.submit(self._write)

    def _write(self) -> None:
        with self._lock:
            state, self._pending = self._latest, False
        if state is None:
            return
        try:
            write_atomic(self.path, encode(state))
            self.writes += 1
            self.last_error = None
        except OSError as exc:  # a full or read-only disk must not stop the box; health will see staleness
            if self.last_error is None:
                log.warning("service-state-unwritable", extra={"fields": {"path": str(self.path),
                                                                          "error": str(exc)}})
            self.last_error = str(exc)

    def close(self) -> None:
        """Blocking: waits for the last write (call from a thread, not the event loop)."""
        self._pool.shutdown(wait=True)


__all__ = ["StatePublisher", "boot_id", "pid_alive", "write_atomic"]
