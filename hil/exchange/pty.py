"""A pseudo-terminal that looks like /dev/ttyACM0 to pyserial, with a stable symlink path.

We keep the slave side open ourselves too, so a DTE closing and reopening the port never gives the
master EIO; "unplugging" closes both sides and removes the symlink, as a USB modem vanishing would.
"""

from __future__ import annotations

import errno
import logging
import os
import termios
import tty
from pathlib import Path

from roamline.hil.errors import UsageError

log = logging.getLogger(__name__)

MAX_PENDING = 1 << 20


class PtyPort:
    def __init__(self, link: str | Path) -> None:
        self.link = Path(link)
        self.master: int | None = None
        self._slave: int | None = None
        self._pending = bytearray()

    @property
    def is_open(self) -> bool:
        return self.master is not None

    @property
    def slave_name(self) -> str:
        if self._slave is None:
            raise UsageError("pty is closed")
        return os.ttyname(self._slave)

    def open(self) -> None:
        if self.master is not None:
            return
        master, slave = os.openpty()
        tty.setraw(slave, termios.TCSANOW)  # no echo, no CR/LF mapping: bytes pass as they are
        attrs = termios.tcgetattr(slave)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        os.set_blocking(master, False)
        self.master, self._slave = master, slave
        self.link.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.link.with_name(self.link.name + ".new")
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        tmp.symlink_to(os.ttyname(slave))
        tmp.replace(self.link)  # atomic: a DTE never sees a half-made path

    def close(self) -> None:
        if self.master is None:
            return
        try:
            if self.link.is_symlink():
                self.link.unlink()
        except OSError:
            pass
        for fd in (self.master, self._slave):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.master = self._slave = None
        self._pending.clear()

    def read(self) -> bytes:
        if self.master is None:
            return b""
        try:
            return os.read(self.master, 65536)
        except BlockingIOError:
            return b""
        except OSError as exc:
            if exc.errno == errno.EIO:
                return b""
            raise

    def write(self, data: bytes) -> None:
        """Queue ``data`` for the DTE and push what the pty will take now (never blocks)."""
        if self.master is None:
            return
        if len(self._pending) + len(data) > MAX_PENDING:
            log.warning("pty-overflow", extra={"fields": {"link": str(self.link), "dropped": len(data)}})
        else:
            self._pending.extend(data)
        self.flush()

    def flush(self) -> None:
        while self._pending and self.master is not None:
            try:
                n = os.write(self.master, self._pending[:4096])
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in (errno.EIO, errno.EAGAIN):
                    return
                raise
            del self._pending[:n]

    @property
    def has_pending(self) -> bool:
        return bool(self._pending)
