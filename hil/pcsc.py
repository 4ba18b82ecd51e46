"""A private pcscd with vpcd readers, for tests and the demo (see shared/RECIPES "Smart cards").

pcscd 1.9.9 ignores PCSCLITE_CSOCK_NAME, so it is started through ``systemd-socket-activate`` listening on
our own socket; clients find it through ``PCSCLITE_CSOCK_NAME``. libpcsclite reads that variable once per
process, at the first SCardEstablishContext (not at import; checked here), so a process talks to one
pcscd for its whole life: set ``os.environ`` (``daemon.env``) before any PC/SC call, or run clients in
subprocesses with ``env=daemon.env``.

vpcd makes two slots per reader entry (ports P and P+1), and keeps its per-slot state in globals indexed
by slot only, so a second entry in the same pcscd breaks the first (checked with vsmartcard-vpcd 3.3):
one pcscd therefore offers exactly two readers, ``"<name> 00 00"`` (port P) and ``"<name> 00 01"`` (P+1).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import random
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from roamline.hil.errors import PeerError, UsageError

log = logging.getLogger(__name__)

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
SOCKET_ENV = "PCSCLITE_CSOCK_NAME"


@dataclass(frozen=True, slots=True)
class VpcdReader:
    name: str  # the PC/SC reader name
    port: int  # the vpcd TCP port a virtual card connects to


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as a listener would
        try:
            s.bind(("0.0.0.0", port))  # vpcd listens on all addresses: check the same
        except OSError:
            return False
    return True


def _free_port_pair() -> int:
    # Below the Linux ephemeral range (32768+), so outgoing connections do not grab our ports.
    for _ in range(200):
        p = random.randrange(20000, 32000, 2)
        if _port_free(p) and _port_free(p + 1):
            return p
    raise UsageError("no free TCP port pair for vpcd")


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM us when the thread that started us dies (a crashed test run
    must not leave pcscd behind). Start the daemon from a long-lived thread, e.g. the main one."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _listening_ports() -> set[int]:
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            next(f)
            for line in f:
                cols = line.split()
                if cols[3] == "0A":  # LISTEN
                    ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


class PcscDaemon:
    """Owns one private pcscd process. start()/stop()/restart() are idempotent; no I/O in __init__.

    One owner per working directory: ``start`` refuses (UsageError) a directory whose lock another
    owner holds or whose socket another daemon listens on, instead of taking that daemon's socket.
    """

    SLOTS = 2

    def __init__(
        self, workdir: str | Path, name: str = "Roamline VPCD", *, die_with_parent: bool = True
    ) -> None:
        self.die_with_parent = die_with_parent
        self.workdir = Path(workdir).resolve()  # systemd-socket-activate needs an absolute socket path
        self.name = name
        self.socket_path = self.workdir / "pcscd.comm"
        self.conf_dir = self.workdir / "reader.conf.d"
        self.log_path = self.workdir / "pcscd.log"
        self.readers: list[VpcdReader] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock_fd: int | None = None

    def _claim(self) -> None:
        """Take the working directory: its lock file, and only if no daemon listens on its socket."""
        if self._lock_fd is not None:
            return
        lock = self.workdir / "pcscd.lock"
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UsageError(f"{self.workdir}: in use by another pcscd owner (it holds {lock.name}); "
                             "stop it or use another directory") from None
        if self.socket_path.exists():
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                try:
                    s.connect(str(self.socket_path))
                    listening = True
                except OSError:
                    listening = False  # a stale socket from a daemon that is gone
            if listening:
                os.close(fd)
                raise UsageError(f"{self.workdir}: in use: a daemon listens on {self.socket_path.name}; "
                                 "stop it or use another directory")
        self._lock_fd = fd

    def _release(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)  # closing drops the flock

    @property
    def env(self) -> dict[str, str]:
        """Environment for PC/SC clients (merge into os.environ or a subprocess env)."""
        return {SOCKET_ENV: str(self.socket_path)}

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running and self._proc is not None else None

    def _write_conf(self) -> None:
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        port = _free_port_pair()
        (self.conf_dir / "vpcd").write_text(
            f'FRIENDLYNAME "{self.name}"\nDEVICENAME /dev/null:{port}\n'
            f"LIBPATH {VPCD_DRIVER}\nCHANNELID {port}\n"
        )
        self.readers = [VpcdReader(f"{self.name} 00 {i:02d}", port + i) for i in range(self.SLOTS)]

    def start(self, timeout: float = 10.0) -> None:
        """Start pcscd (if not running) and return when its vpcd readers listen."""
        if self.running:
            return
        if not VPCD_DRIVER.exists():
            raise UsageError(f"{VPCD_DRIVER} missing: install vsmartcard-vpcd (scripts/bootstrap.sh)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._claim()
        if not self.readers:  # the ports stay the same across restarts, so inserted cards reconnect
            self._write_conf()
        self.socket_path.unlink(missing_ok=True)
        with open(self.log_path, "ab") as logf:
            argv = ["systemd-socket-activate", "-l", str(self.socket_path)]
            argv += ["pcscd", "--foreground", "-c", str(self.conf_dir)]
            self._proc = subprocess.Popen(
                argv,
                stdout=logf,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent if self.die_with_parent else None,
            )
        self._wait_ready(timeout)
        log.info("pcscd-started", extra={"fields": {"pid": self._proc.pid, "socket": str(self.socket_path)}})

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        poked = False
        want = {r.port for r in self.readers}
        while time.monotonic() < deadline:
            if not self.running:
                self.stop()  # releases the directory
                raise PeerError(f"pcscd exited at start; see {self.log_path}")
            if not poked and self.socket_path.exists():
                # systemd-socket-activate execs pcscd on the first connection: make one.
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s, contextlib.suppress(OSError):
                    s.connect(str(self.socket_path))
                    poked = True
            if poked and want <= _listening_ports():
                return
            time.sleep(0.01)
        self.stop()
        raise PeerError(f"pcscd not ready within {timeout} s; see {self.log_path}")

    def stop(self, timeout: float = 5.0) -> None:
        """Stop pcscd (idempotent): SIGTERM, then SIGKILL if it lingers."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            self._release()
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self._release()
        log.info("pcscd-stopped", extra={"fields": {"pid": proc.pid}})

    def kill(self) -> None:
        """Kill pcscd abruptly (SIGKILL), as a crash would."""
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
        self._proc = None
        self._release()

    def restart(self, timeout: float = 10.0) -> None:
        self.stop()
        self.start(timeout)

    def __enter__(self) -> PcscDaemon:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def reader_present(reader: str) -> bool | None:
    """Whether pcscd reports a card in ``reader`` right now (None: no such reader / no pcscd)."""
    from smartcard import scard

    hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hr != scard.SCARD_S_SUCCESS:
        return None
    try:
        hr, states = scard.SCardGetStatusChange(ctx, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
        if hr != scard.SCARD_S_SUCCESS or states[0][1] & scard.SCARD_STATE_UNKNOWN:
            return None
        return bool(states[0][1] & scard.SCARD_STATE_PRESENT)
    finally:
        scard.SCardReleaseContext(ctx)


def wait_reader(reader: str, present: bool, timeout: float = 5.0) -> None:
    """Block until pcscd reports the card ``present`` (or absent) in ``reader``."""
    from smartcard import scard

    hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hr != scard.SCARD_S_SUCCESS:
        raise PeerError(f"pcscd unavailable: {scard.SCardGetErrorMessage(hr)}")
    try:
        deadline = time.monotonic() + timeout
        state = scard.SCARD_STATE_UNAWARE
        while True:
            left_ms = int((deadline - time.monotonic()) * 1000)
            hr, states = scard.SCardGetStatusChange(ctx, max(left_ms, 0), [(reader, state)])
            if hr not in (scard.SCARD_S_SUCCESS, scard.SCARD_E_TIMEOUT):
                raise PeerError(f"waiting for {reader}: {scard.SCardGetErrorMessage(hr)}")
            state = states[0][1] & ~scard.SCARD_STATE_CHANGED
            if bool(state & scard.SCARD_STATE_PRESENT) == present:
                return
            if left_ms <= 0:
                still = "absent" if present else "present"
                raise PeerError(f"{reader}: card still {still} after {timeout} s")
    finally:
        scard.SCardReleaseContext(ctx)
