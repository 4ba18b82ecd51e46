"""Checkpointing a SQLite WAL from a background thread, off the writer's commit path."""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)


class WalCheckpointer:
    """A thread with its own connection that copies the WAL back into the database every ``interval_s``.

    SQLite's automatic checkpoint runs inside the COMMIT that crosses the threshold, with two fsyncs: on
    the registration path that was ~2/3 of the mean commit time. Here it runs off that path (PASSIVE: it
    never blocks the writer) and copies each hot page once per interval instead of once per threshold.
    Commits stay exactly as durable (they are in the WAL either way).
    """

    def __init__(self, path: Path, interval_s: float) -> None:
        self._path = path
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(str(self._path), timeout=10.0)
        try:
            while not self._stop.wait(self._interval_s):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # busy or I/O trouble: the writer's own fallback still runs
                    log.warning("checkpoint-failed", extra={"fields": {"error": str(exc)}})
        finally:
            conn.close()
