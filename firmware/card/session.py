"""A PIV session on one card: its own PC/SC context and connection, invalidated when the card leaves."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from roamline.firmware.card.errors import CardError, CardIOError, CardRemovedError
from roamline.firmware.card.events import has_card
from roamline.firmware.card.pcsc import STATE_CHANGED, STATE_UNAWARE, PcscBackend
from roamline.firmware.card.piv import PivClient
from roamline.firmware.errors import UsageError


class CardSession:
    """One connection to the card in ``reader`` on its own PC/SC context. Thread-safe close/invalidate."""

    def __init__(self, backend: PcscBackend, reader: str, removal_wait_s: float = 0.6) -> None:
        self.backend = backend
        self.reader = reader
        self.removal_wait_s = removal_wait_s
        self._lock = threading.Lock()
        self._ctx: Any = None
        self._handle: Any = None
        self._protocol = 0
        self._dead: str | None = None
        self.piv = PivClient(self.transmit)

    def open(self) -> None:
        with self._lock:
            if self._handle is not None:
                return
            if self._dead:
                raise CardRemovedError(self._dead)
            self._ctx = self.backend.establish()
            try:
                self._handle, self._protocol = self.backend.connect(self._ctx, self.reader)
            except BaseException:
                self._release()
                raise

    def transmit(self, apdu: bytes) -> bytes:
        with self._lock:
            if self._dead:
                raise CardRemovedError(self._dead)
            if self._handle is None:
                raise UsageError("session is not open")
            try:
                out = self.backend.transmit(self._handle, self._protocol, apdu)
                if len(out) >= 2:
                    return out
                # vpcd (and some readers) answer "success, no bytes" when the card vanished mid-command.
                raise CardIOError("empty response from the reader")
            except CardRemovedError as exc:
                self._kill(str(exc))
                raise
            except CardIOError as exc:
                if self._card_gone():
                    self._kill(f"card removed from {self.reader} during a command")
                    raise CardRemovedError(f"card removed from {self.reader} during a command") from exc
                raise

    def _card_gone(self) -> bool:
        """After a failed transmit: did the card leave? Waits at most one reader polling cycle."""
        try:
            out = self.backend.get_status_change(self._ctx, 0, [(self.reader, STATE_UNAWARE)])
            if out is None:
                return False
            state = out[0][1] & ~STATE_CHANGED
            if not has_card(state):
                return True
            wait_ms = int(self.removal_wait_s * 1000)
            out = self.backend.get_status_change(self._ctx, wait_ms, [(self.reader, state)])
            return out is not None and not has_card(out[0][1])
        except CardError:
            return True

    def invalidate(self, reason: str) -> None:
        """The card is gone: forbid further use; close now unless a command is in flight (it will fail)."""
        self._dead = self._dead or reason
        if self._lock.acquire(blocking=False):
            try:
                self._release()
            finally:
                self._lock.release()

    def _kill(self, reason: str) -> None:
        self._dead = self._dead or reason
        self._release()

    def _release(self) -> None:
        handle, ctx, self._handle, self._ctx = self._handle, self._ctx, None, None
        if handle is not None:
            with contextlib.suppress(Exception):
                self.backend.disconnect(handle)
        if ctx is not None:
            with contextlib.suppress(Exception):
                self.backend.release(ctx)

    def close(self) -> None:
        with self._lock:
            self._release()
