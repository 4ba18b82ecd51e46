"""The supervised reader loop: PC/SC reader and card events, and PIV sessions on inserted cards.

``ReaderTracker`` is the sans-I/O core: it takes what PC/SC reported (reader lists, reader states, pcscd
up/down) with ``now`` and returns typed events. ``ReaderLoop`` is the thin adapter: one thread it owns
blocks in SCardGetStatusChange (woken by any reader/card change, the PnP pseudo reader for readers coming
and going, SCardCancel on stop, or ``poll_s``), feeds the tracker, and delivers events to a sink.

Events are stamped with the monotonic time at which PC/SC reported the change. When pcscd goes away the
loop reports CardRemoved for each card, ReaderLost for each reader, then PcscUnavailable; it keeps trying
to re-establish a context and, when pcscd is back, reports PcscAvailable, ReaderAdded and CardInserted
again (the card may have been swapped meanwhile, so the box must treat it as a new insertion).

Sessions (``with loop.session(reader) as piv:``) use their own PC/SC context and connection; the loop
invalidates them before delivering the removal event, and a card pulled mid-command surfaces as
CardRemovedError, so no connection outlives its card.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Collection, Iterator
from typing import Any

from roamline.firmware.card.errors import CardError, CardRemovedError, PcscUnavailableError
from roamline.firmware.card.events import (
    CardEvent,
    CardInserted,
    CardRemoved,
    PcscAvailable,
    PcscUnavailable,
    ReaderAdded,
    ReaderLost,
    ReaderTracker,
)
from roamline.firmware.card.pcsc import PNP_READER, STATE_CHANGED, STATE_UNAWARE, PcscBackend
from roamline.firmware.card.piv import PivClient
from roamline.firmware.card.session import CardSession
from roamline.wire.clock import Clock, SystemClock

log = logging.getLogger(__name__)


Sink = Callable[[CardEvent], None]


class ReaderLoop:
    """Owns the thread that watches PC/SC. start()/stop() are idempotent; the constructor does no I/O.

    Events go to ``sink`` (called on the loop thread; keep it quick) or, without a sink, to a queue read
    with ``get_event``. ``readers``: watch only these reader names (None: every reader pcscd offers).
    """

    def __init__(
        self,
        backend: PcscBackend,
        sink: Sink | None = None,
        *,
        clock: Clock | None = None,
        poll_s: float = 1.0,
        retry_s: float = 0.2,
        readers: Collection[str] | None = None,
    ) -> None:
        self.backend = backend
        self.only = frozenset(readers) if readers is not None else None  # the board profile's card slots
        self.clock = clock or SystemClock()
        self.poll_s = poll_s
        self.retry_s = retry_s
        self._sink = sink
        self._queue: queue.Queue[CardEvent] = queue.Queue()
        self._tracker = ReaderTracker()
        self._lock = threading.Lock()
        self._sessions: dict[str, set[CardSession]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ctx: Any = None
        self._pnp_state = STATE_UNAWARE

    # -- public ----------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="card-reader-loop", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is None or thread is threading.current_thread():
            return
        # SCardCancel only wakes a call already blocked: repeat it until the thread has left.
        for _ in range(100):
            ctx = self._ctx
            if ctx is not None:
                with contextlib.suppress(Exception):
                    self.backend.cancel(ctx)
            thread.join(0.05)
            if not thread.is_alive():
                return
        log.warning("card-reader-loop-stop-timeout")

    def __enter__(self) -> ReaderLoop:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def get_event(self, timeout: float | None = None) -> CardEvent | None:
        """The next event (only without a sink); None on timeout."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    @property
    def readers(self) -> list[str]:
        with self._lock:
            return self._tracker.readers

    @property
    def cards(self) -> dict[str, bytes]:
        """Readers with a card, as last reported: reader → ATR."""
        with self._lock:
            return self._tracker.cards

    def open_session(self, reader: str) -> CardSession:
        """Connect to the card in ``reader`` (close it yourself, or use ``session``)."""
        with self._lock:
            if reader not in self._tracker.cards:
                raise CardRemovedError(f"no card in {reader}")
            sess = CardSession(self.backend, reader)
            self._sessions.setdefault(reader, set()).add(sess)
        try:
            sess.open()
        except BaseException:
            self._forget(sess)
            raise
        return sess

    @contextlib.contextmanager
    def session(self, reader: str) -> Iterator[PivClient]:
        """``with loop.session(reader) as piv:`` — a PIV client on the card, closed on exit. Raises
        CardRemovedError if the card is not there or leaves during the block."""
        sess = self.open_session(reader)
        try:
            yield sess.piv
        finally:
            sess.close()
            self._forget(sess)

    # -- thread ----------------------------------------------------------------------------------------

    def _wanted(self, names: list[str]) -> list[str]:
        return names if self.only is None else [n for n in names if n in self.only]

    def _forget(self, sess: CardSession) -> None:
        with self._lock:
            self._sessions.get(sess.reader, set()).discard(sess)

    def _emit(self, events: list[CardEvent]) -> None:
        for ev in events:
            if isinstance(ev, (CardRemoved, ReaderLost)):
                with self._lock:
                    sessions = list(self._sessions.pop(ev.reader, ()))
                for sess in sessions:
                    sess.invalidate(f"card removed from {ev.reader}")
            log.info("card-event", extra={"fields": {"event": type(ev).__name__, **_fields(ev)}})
            if self._sink is not None:
                try:
                    self._sink(ev)
                except Exception:
                    log.exception("card-event-sink-failed")
            else:
                self._queue.put(ev)

    def _track(self, fn: Callable[[], list[CardEvent]]) -> None:
        with self._lock:
            events = fn()
        self._emit(events)

    def _down(self, reason: str) -> None:
        ctx, self._ctx = self._ctx, None
        if ctx is not None:
            with contextlib.suppress(Exception):
                self.backend.release(ctx)
        now = self.clock.monotonic()
        self._track(lambda: self._tracker.down(now, reason))
        with self._lock:
            dead = [s for group in self._sessions.values() for s in group]
            self._sessions.clear()
        for sess in dead:
            sess.invalidate(f"pcscd unavailable: {reason}")

    def _connect(self) -> bool:
        try:
            ctx = self.backend.establish()
        except PcscUnavailableError as exc:
            self._down(str(exc))
            return False
        self._ctx = ctx
        self._pnp_state = STATE_UNAWARE
        try:
            names = self._wanted(self.backend.list_readers(ctx))
        except CardError as exc:
            self._down(str(exc))
            return False
        now = self.clock.monotonic()
        self._track(lambda: self._tracker.up(now) + self._tracker.readers_listed(names, now))
        return True

    def _run(self) -> None:
        log.info("card-reader-loop-started")
        while not self._stop.is_set():
            try:
                self._step()
            except Exception:  # never let the supervisor die; back off and start over
                log.exception("card-reader-loop-error")
                self._down("internal error")
                self._stop.wait(self.retry_s)
        ctx, self._ctx = self._ctx, None
        if ctx is not None:
            with contextlib.suppress(Exception):
                self.backend.release(ctx)
        log.info("card-reader-loop-stopped")

    def _step(self) -> None:
        if self._ctx is None and not self._connect():
            self._stop.wait(self.retry_s)
            return
        with self._lock:
            watch = self._tracker.watch_list()
        watch.append((PNP_READER, self._pnp_state))
        try:
            result = self.backend.get_status_change(self._ctx, int(self.poll_s * 1000), watch)
        except PcscUnavailableError as exc:
            self._down(str(exc))
            return
        except CardError:  # a reader vanished between listing and waiting: list again
            self._relist()
            return
        if result is None:  # timeout or cancelled
            return
        now = self.clock.monotonic()
        relist = False
        for name, state, atr in result:
            if name == PNP_READER:
                relist = bool(state & STATE_CHANGED) and self._pnp_state != STATE_UNAWARE
                self._pnp_state = state & ~STATE_CHANGED
                continue
            if state & STATE_CHANGED or watch_state(watch, name) == STATE_UNAWARE:
                with self._lock:
                    events = self._tracker.status(name, state, atr, now)
                self._emit(events)
        if relist:
            self._relist()

    def _relist(self) -> None:
        try:
            names = self._wanted(self.backend.list_readers(self._ctx))
        except PcscUnavailableError as exc:
            self._down(str(exc))
            return
        now = self.clock.monotonic()
        self._track(lambda: self._tracker.readers_listed(names, now))


def watch_state(watch: list[tuple[str, int]], name: str) -> int:
    for n, s in watch:
        if n == name:
            return s
    return STATE_UNAWARE


def _fields(ev: CardEvent) -> dict[str, object]:
    out: dict[str, object] = {"at": ev.at}
    for key in ("reader", "reason"):
        if hasattr(ev, key):
            out[key] = getattr(ev, key)
    if isinstance(ev, CardInserted):
        out["atr"] = ev.atr.hex()
    return out


__all__ = [
    "CardEvent",
    "CardInserted",
    "CardRemoved",
    "CardSession",
    "PcscAvailable",
    "PcscUnavailable",
    "ReaderAdded",
    "ReaderLoop",
    "ReaderLost",
    "Sink",
]
