"""The PC/SC backend: a thin typed layer over pyscard's ``smartcard.scard`` (libpcsclite).

It turns PC/SC result codes into our errors and nothing more; the reader loop (reader.py) takes any object
with this shape (``PcscBackend``), so the loop logic does not depend on pyscard's calling conventions.
"""

from __future__ import annotations

from typing import Any, Protocol

from roamline.firmware.card.errors import (
    CardIOError,
    CardRemovedError,
    PcscUnavailableError,
    ReaderUnavailableError,
)

PNP_READER = "\\\\?PnP?\\Notification"  # pseudo reader whose state changes when readers come and go

# Reader state bits (PC/SC), stable across implementations.
STATE_UNAWARE = 0x0000
STATE_CHANGED = 0x0002
STATE_UNKNOWN = 0x0004
STATE_UNAVAILABLE = 0x0008
STATE_EMPTY = 0x0010
STATE_PRESENT = 0x0020
STATE_MUTE = 0x0200


class PcscBackend(Protocol):
    def establish(self) -> Any: ...
    def release(self, ctx: Any) -> None: ...
    def list_readers(self, ctx: Any) -> list[str]: ...
    def get_status_change(
        self, ctx: Any, timeout_ms: int, states: list[tuple[str, int]]
    ) -> list[tuple[str, int, bytes]] | None: ...
    def cancel(self, ctx: Any) -> None: ...
    def connect(self, ctx: Any, reader: str) -> tuple[Any, int]: ...
    def transmit(self, handle: Any, protocol: int, apdu: bytes) -> bytes: ...
    def disconnect(self, handle: Any) -> None: ...


class PyscardBackend:
    """The real backend. libpcsclite finds pcscd through PCSCLITE_CSOCK_NAME, read once per process."""

    def __init__(self) -> None:
        from smartcard import scard  # lazy: keep `import roamline.firmware.card` light

        self._s: Any = scard
        s = scard
        self._service = {
            s.SCARD_E_NO_SERVICE,
            s.SCARD_E_SERVICE_STOPPED,
            s.SCARD_F_COMM_ERROR,
            s.SCARD_E_INVALID_HANDLE,
            s.SCARD_F_INTERNAL_ERROR,
        }
        self._removed = {s.SCARD_W_REMOVED_CARD, s.SCARD_E_NO_SMARTCARD}
        self._reader_gone = {s.SCARD_E_READER_UNAVAILABLE, s.SCARD_E_UNKNOWN_READER}

    def _raise(self, hr: int, what: str) -> None:
        text = f"{what}: {self._s.SCardGetErrorMessage(hr).rstrip('.')} (0x{hr & 0xFFFFFFFF:08X})"
        if hr in self._service:
            raise PcscUnavailableError(text)
        if hr in self._removed:
            raise CardRemovedError(text)
        if hr in self._reader_gone:
            raise ReaderUnavailableError(text)
        raise CardIOError(text)

    def establish(self) -> Any:
        hr, ctx = self._s.SCardEstablishContext(self._s.SCARD_SCOPE_USER)
        if hr != self._s.SCARD_S_SUCCESS:
            raise PcscUnavailableError(f"establish context: {self._s.SCardGetErrorMessage(hr)}")
        return ctx

    def release(self, ctx: Any) -> None:
        self._s.SCardReleaseContext(ctx)

    def list_readers(self, ctx: Any) -> list[str]:
        hr, readers = self._s.SCardListReaders(ctx, [])
        if hr == self._s.SCARD_E_NO_READERS_AVAILABLE:
            return []
        if hr != self._s.SCARD_S_SUCCESS:
            self._raise(hr, "list readers")
        return list(readers)

    def get_status_change(
        self, ctx: Any, timeout_ms: int, states: list[tuple[str, int]]
    ) -> list[tuple[str, int, bytes]] | None:
        hr, out = self._s.SCardGetStatusChange(ctx, timeout_ms, states)
        if hr in (self._s.SCARD_E_TIMEOUT, self._s.SCARD_E_CANCELLED):
            return None
        if hr != self._s.SCARD_S_SUCCESS:
            self._raise(hr, "get status change")
        return [(name, int(state), bytes(atr)) for name, state, atr in out]

    def cancel(self, ctx: Any) -> None:
        self._s.SCardCancel(ctx)

    def connect(self, ctx: Any, reader: str) -> tuple[Any, int]:
        s = self._s
        hr, handle, protocol = s.SCardConnect(
            ctx, reader, s.SCARD_SHARE_SHARED, s.SCARD_PROTOCOL_T0 | s.SCARD_PROTOCOL_T1
        )
        if hr != s.SCARD_S_SUCCESS:
            self._raise(hr, f"connect to {reader}")
        return handle, int(protocol)

    def transmit(self, handle: Any, protocol: int, apdu: bytes) -> bytes:
        hr, out = self._s.SCardTransmit(handle, protocol, list(apdu))
        if hr != self._s.SCARD_S_SUCCESS:
            self._raise(hr, "transmit")
        return bytes(out)

    def disconnect(self, handle: Any) -> None:
        self._s.SCardDisconnect(handle, self._s.SCARD_LEAVE_CARD)
