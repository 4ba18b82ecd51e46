"""A network path between a box and the cloud that a test can cut: a UDP forwarder on loopback.

A box's ``registry.port`` points at the path's port; the path forwards every datagram to the registry
from a socket of its own per box address (so the registry sees one peer per box, as through a NAT) and
the replies back. ``cut()`` drops everything both ways — the box's Wi-Fi or uplink dying — and
``mend()`` lets packets through again; nothing else about the QUIC packets is touched (they are opaque
and encrypted here). A protocol peer at the UDP level, not a mock: the box and the registry run their
real QUIC stacks through it.
"""

from __future__ import annotations

import json
import logging
import os
import selectors
import socket
import subprocess
import sys
import threading

from roamline.hil.errors import UsageError

log = logging.getLogger(__name__)

MAX_DATAGRAM = 65535


class NetPath:
    """``open()`` binds and starts the forwarding thread; ``close()`` stops it (both idempotent)."""

    def __init__(self, upstream: tuple[str, int], host: str = "127.0.0.1") -> None:
        self.upstream = upstream
        self.host = host
        self.port = 0
        self._cut = False
        self.forwarded = 0
        self.dropped = 0
        self._front: socket.socket | None = None
        self._back: dict[tuple[str, int], socket.socket] = {}  # box address -> our socket to the registry
        self._by_back: dict[int, tuple[str, int]] = {}
        self._sel: selectors.DefaultSelector | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake_r, self._wake_w = -1, -1
        self._lock = threading.Lock()

    @property
    def is_cut(self) -> bool:
        return self._cut

    def cut(self) -> None:
        """From now on nothing passes either way."""
        with self._lock:
            self._cut = True

    def mend(self) -> None:
        with self._lock:
            self._cut = False

    def open(self) -> NetPath:
        if self._thread is not None:
            return self
        front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        front.bind((self.host, self.port))
        front.setblocking(False)
        self.port = int(front.getsockname()[1])
        self._front = front
        self._sel = selectors.DefaultSelector()
        self._sel.register(front, selectors.EVENT_READ)
        self._wake_r, self._wake_w = os.pipe()
        self._sel.register(self._wake_r, selectors.EVENT_READ)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"netpath-{self.port}", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        os.write(self._wake_w, b"x")
        thread.join(timeout=5)
        assert self._sel is not None and self._front is not None
        for s in [self._front, *self._back.values()]:
            s.close()
        self._back.clear()
        self._by_back.clear()
        self._sel.close()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)
        self._wake_r = self._wake_w = -1

    def __enter__(self) -> NetPath:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _passes(self) -> bool:
        with self._lock:
            ok = not self._cut
        if ok:
            self.forwarded += 1
        else:
            self.dropped += 1
        return ok

    def _run(self) -> None:
        sel, front = self._sel, self._front
        if sel is None or front is None:
            raise UsageError("net path is not open")
        while not self._stop.is_set():
            for key, _ in sel.select(timeout=0.5):
                if key.fileobj == self._wake_r:
                    continue
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                while True:
                    try:
                        data, addr = sock.recvfrom(MAX_DATAGRAM)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:  # e.g. ECONNREFUSED from the registry being down: nothing to forward
                        break
                    if not self._passes():
                        continue
                    try:
                        if sock is front:
                            self._back_for(addr).send(data)
                        else:
                            front.sendto(data, self._by_back[sock.fileno()])
                    except OSError:  # the registry is down (refused): the packet is lost, as on a network
                        pass

    def _back_for(self, addr: tuple[str, int]) -> socket.socket:
        sock = self._back.get(addr)
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.connect(self.upstream)
            sock.setblocking(False)
            self._back[addr] = sock
            self._by_back[sock.fileno()] = addr
            assert self._sel is not None
            self._sel.register(sock, selectors.EVENT_READ)
        return sock


class NetPathProcess:
    """A :class:`NetPath` in its own process (``python -m roamline.hil.netpath HOST PORT``), so that its
    forwarding never waits for the test process's GIL; driven over its stdin/stdout one line at a time
    (``cut``, ``mend``, ``stats``). The same interface as NetPath."""

    def __init__(self, upstream: tuple[str, int], host: str = "127.0.0.1") -> None:
        self.upstream, self.host = upstream, host
        self.port = 0
        self._proc: subprocess.Popen[str] | None = None

    def open(self) -> NetPathProcess:
        if self._proc is not None:
            return self
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "roamline.hil.netpath", self.upstream[0], str(self.upstream[1]),
             self.host],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.port = int(json.loads(self._ask(None))["port"])
        return self

    def _ask(self, command: str | None) -> str:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdout is None:
            raise UsageError("net path process is not running")
        if command is not None:
            proc.stdin.write(command + "\n")
            proc.stdin.flush()
        line = proc.stdout.readline()
        if not line:
            raise UsageError(f"net path process exited ({proc.poll()})")
        return line

    def cut(self) -> None:
        self._ask("cut")

    def mend(self) -> None:
        self._ask("mend")

    def stats(self) -> dict[str, int]:
        return dict(json.loads(self._ask("stats")))

    @property
    def dropped(self) -> int:
        return self.stats()["dropped"]

    @property
    def is_cut(self) -> bool:
        return bool(self.stats()["cut"])

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()  # end of input: it stops
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> NetPathProcess:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: list[str]) -> int:
    """HOST PORT [LISTEN_HOST]: forward to HOST:PORT; print {"port": N}; then per stdin line ``cut`` |
    ``mend`` | ``stats`` one JSON line; end of input stops it."""
    path = NetPath((argv[0], int(argv[1])), host=argv[2] if len(argv) > 2 else "127.0.0.1").open()
    try:
        print(json.dumps({"port": path.port}), flush=True)
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == "cut":
                path.cut()
            elif cmd == "mend":
                path.mend()
            print(json.dumps({"cut": path.is_cut, "forwarded": path.forwarded, "dropped": path.dropped}),
                  flush=True)
    finally:
        path.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
