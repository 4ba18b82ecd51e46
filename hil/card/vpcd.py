"""The vpcd side of a virtual card: the card is a TCP client of the vpcd reader driver inside pcscd.

Wire format (vsmartcard vpcd): each message is a 2-byte big-endian length then the payload. A 1-byte
payload is a control (0 power off, 1 power on, 2 reset, 4 "send your ATR"; only 4 is answered); anything
longer is a command APDU, answered with the response APDU.

``VpcdDecoder`` is the sans-I/O framing; ``CardSocket`` is the thread-owning client: ``insert(port)``
connects (and keeps reconnecting while inserted, so the card survives a pcscd restart), ``remove()``
disconnects, which pcscd reports as a removal on its next poll of the reader (every 400 ms).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable

from roamline.hil.card.piv import BadApdu, Command, VirtualCard, parse_command
from roamline.hil.errors import PeerError, UsageError

log = logging.getLogger(__name__)

CTRL_OFF, CTRL_ON, CTRL_RESET, CTRL_ATR = 0, 1, 2, 4
MAX_BUFFER = 2 + 0xFFFF
RECONNECT_S = 0.05


class VpcdFramingError(PeerError):
    pass


class VpcdDecoder:
    """Incremental decoder of length-prefixed vpcd messages (bounded to one maximal message)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        if len(self._buf) + len(data) > 2 * MAX_BUFFER:
            raise VpcdFramingError("vpcd buffer overflow")
        self._buf += data
        out: list[bytes] = []
        while len(self._buf) >= 2:
            n = int.from_bytes(self._buf[:2], "big")
            if n == 0:
                raise VpcdFramingError("empty vpcd message")
            if len(self._buf) < 2 + n:
                break
            out.append(bytes(self._buf[2 : 2 + n]))
            del self._buf[: 2 + n]
        return out


def encode(payload: bytes) -> bytes:
    if not 0 < len(payload) <= 0xFFFF:
        raise UsageError("vpcd payload must be 1..65535 bytes")
    return len(payload).to_bytes(2, "big") + payload


def answer(card: VirtualCard, message: bytes) -> bytes | None:
    """The card's reply to one vpcd message (None: controls other than ATR are not answered)."""
    if len(message) == 1:
        ctrl = message[0]
        if ctrl == CTRL_ATR:
            return card.atr
        if ctrl in (CTRL_OFF, CTRL_ON, CTRL_RESET):
            card.reset()
            return None
        raise VpcdFramingError(f"unknown vpcd control {ctrl}")
    return card.process(message)


class CardSocket:
    """Owns the thread that connects a VirtualCard to a vpcd port on 127.0.0.1."""

    def __init__(self, card: VirtualCard, host: str = "127.0.0.1") -> None:
        self.card = card
        self.host = host
        self.port: int | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._yank: Callable[[Command], bool] | None = None
        self.connected = threading.Event()
        self.yanked = threading.Event()

    @property
    def inserted(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def insert(self, port: int) -> None:
        """Put the card into the vpcd reader on ``port``. Idempotent for the same port."""
        if self.inserted:
            if port == self.port:
                return
            self.remove()
        self.port = port
        self._stop.clear()
        self.yanked.clear()
        self._thread = threading.Thread(target=self._run, name=f"vpcd-card-{port}", daemon=True)
        self._thread.start()

    def remove(self) -> None:
        """Take the card out (idempotent). Returns once the connection is closed."""
        self._stop.set()
        with self._lock:
            if self._sock is not None:
                try:
                    self._sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        self._thread = None
        self.connected.clear()

    close = remove

    def yank_when(self, predicate: Callable[[Command], bool]) -> None:
        """Test hook: on the first command matching ``predicate``, drop the connection without answering
        and stay removed, like a card pulled out mid-command."""
        self._yank = predicate

    # -- thread ----------------------------------------------------------------------------------------

    def _run(self) -> None:
        port = self.port
        assert port is not None
        while not self._stop.is_set():
            try:
                sock = socket.create_connection((self.host, port), timeout=1)
            except OSError:
                self._stop.wait(RECONNECT_S)  # reader not there (yet): pcscd starting or restarting
                continue
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._sock = sock
            if self._stop.is_set():  # removed while connecting
                sock.close()
                break
            self.card.reset()
            self.connected.set()
            log.debug("vpcd-card-connected", extra={"fields": {"port": port}})
            try:
                self._serve(sock)
            except (OSError, PeerError) as exc:
                log.info("vpcd-card-connection-lost", extra={"fields": {"port": port, "error": str(exc)}})
            finally:
                self.connected.clear()
                with self._lock:
                    self._sock = None
                sock.close()
            if self.yanked.is_set():
                break
            self._stop.wait(RECONNECT_S)

    def _serve(self, sock: socket.socket) -> None:
        decoder = VpcdDecoder()
        while not self._stop.is_set():
            # vpcd writes length and payload separately: without QUICKACK, delayed ACK + Nagle cost ~40 ms.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            data = sock.recv(4096)
            if not data:
                return
            for message in decoder.feed(data):
                if self._should_yank(message):
                    self.yanked.set()
                    self._stop.set()
                    return
                reply = answer(self.card, message)
                if reply is not None:
                    sock.sendall(encode(reply))

    def _should_yank(self, message: bytes) -> bool:
        if self._yank is None or len(message) < 4:
            return False
        try:
            cmd = parse_command(message)
        except BadApdu:
            return False
        if self._yank(cmd):
            self._yank = None
            return True
        return False
