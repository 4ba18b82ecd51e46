"""Control sockets of the simulators: one JSON object per line in, one per line out, on a Unix socket.

The exchange and the attached handset serve their control requests through ``JsonLineServer``; their
clients use ``request``. Replies are ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from pathlib import Path
from typing import Any

from roamline.hil.errors import HilError, PeerError, UsageError

log = logging.getLogger(__name__)

MAX_REQUEST = 64 * 1024
MAX_CONNECTIONS = 16
IDLE_S = 2.0  # a connection served in the accept thread is dropped after this long without a request


class JsonLineServer:
    """A Unix-socket server of JSON-line requests; subclasses implement ``handle``.

    ``concurrent``: each connection gets its own thread (a long request does not hold others up), at
    most ``MAX_CONNECTIONS`` at once; otherwise connections are served one after another in the accept
    thread, so ``handle`` never runs twice at once. ``open``/``close`` are explicit and idempotent."""

    name = "control"

    def __init__(self, path: str | Path, *, concurrent: bool) -> None:
        self.path = Path(path)
        self.concurrent = concurrent
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._sessions: set[threading.Thread] = set()
        self._lock = threading.Lock()

    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def open(self) -> None:
        if self._sock is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(self.path))
        self.path.chmod(0o600)
        sock.listen(8)
        sock.settimeout(0.2)
        self._sock = sock
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name=self.name, daemon=True)
        self._thread.start()
        log.info("control-open", extra={"fields": {"name": self.name, "path": str(self.path)}})

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        with self._lock:
            sessions = list(self._sessions)
        for t in sessions:
            t.join(timeout=1)

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self.concurrent:
                self._session(conn)
                continue
            with self._lock:
                self._sessions = {t for t in self._sessions if t.is_alive()}
                if len(self._sessions) >= MAX_CONNECTIONS:
                    with conn, contextlib.suppress(OSError):
                        conn.sendall(b'{"ok": false, "error": "too many connections"}\n')
                    continue
                t = threading.Thread(target=self._session, args=(conn,), name=f"{self.name}-session",
                                     daemon=True)
                self._sessions.add(t)
            t.start()

    def _session(self, conn: socket.socket) -> None:
        """Requests until the client closes (or, served in the accept thread, goes quiet)."""
        with conn:
            conn.settimeout(1.0 if self.concurrent else IDLE_S)
            buf = b""
            while not self._stop.is_set():
                try:
                    chunk = conn.recv(4096)
                except TimeoutError:
                    if self.concurrent:
                        continue
                    return
                except OSError:
                    return
                if not chunk:
                    return
                buf += chunk
                while b"\n" in buf:
                    raw, buf = buf.split(b"\n", 1)
                    if raw.strip():
                        try:
                            conn.sendall(json.dumps(self.handle_line(raw)).encode() + b"\n")
                        except OSError:
                            return
                if len(buf) > MAX_REQUEST:
                    with contextlib.suppress(OSError):
                        conn.sendall(b'{"ok": false, "error": "request too long"}\n')
                    return

    def handle_line(self, raw: bytes) -> dict[str, Any]:
        try:
            req = json.loads(raw)
            if not isinstance(req, dict):
                raise UsageError("a request is a JSON object")
            return {"ok": True, **self.handle(req)}
        except (ValueError, HilError, KeyError, TypeError) as exc:
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def request(path: str | Path, req: dict[str, Any], timeout: float, peer: str) -> dict[str, Any]:
    """Send one request to the ``peer`` (a name for messages) listening at ``path``; its reply.
    UsageError if nothing listens there, PeerError if no reply or not a JSON object came."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(str(path))
        except OSError as exc:
            raise UsageError(f"no {peer} listening at {path}: {exc.strerror or exc}") from None
        s.sendall(json.dumps(req).encode() + b"\n")
        buf = b""
        try:
            while b"\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        except TimeoutError:
            raise PeerError(f"the {peer} at {path} did not answer {req.get('op')!r} "
                            f"in {timeout:.0f}s") from None
    try:
        reply = json.loads(buf.decode() or "null")
    except ValueError:
        raise PeerError(f"the {peer} sent a reply that is not JSON") from None
    if not isinstance(reply, dict):
        raise PeerError(f"the {peer} sent a reply that is not a JSON object")
    return reply
