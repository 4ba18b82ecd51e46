"""Loopback backend: an in-memory two-ended line. What one end writes, the other end reads.

Unpaced, a read takes what is buffered and pads with silence (an idle line is silent). Paced on a
clock, the n samples of a read are due n/rate seconds after the previous read's: the read sleeps until
then (``sleep`` is injectable, so a virtual clock runs instantly). Each direction holds at most
``capacity_s`` seconds; writing beyond that drops the oldest audio and counts it (``overflow``). Ends
are thread-safe: the box and a simulated phone may run in different threads.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from roamline.firmware.audio.device import AudioDevice, Int16Array, as_samples
from roamline.firmware.audio.errors import AudioUsageError

if TYPE_CHECKING:
    from roamline.wire.clock import Clock


class _Pipe:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.chunks: collections.deque[Int16Array] = collections.deque()
        self.size = 0
        self.overflow = 0
        self.underrun = 0
        self.lock = threading.Lock()

    def put(self, x: Int16Array) -> None:
        with self.lock:
            self.chunks.append(x)
            self.size += len(x)
            while self.size > self.capacity:
                extra = self.size - self.capacity
                head = self.chunks[0]
                if len(head) <= extra:
                    self.chunks.popleft()
                    self.size -= len(head)
                    self.overflow += len(head)
                else:
                    self.chunks[0] = head[extra:]
                    self.size -= extra
                    self.overflow += extra

    def take(self, n: int) -> Int16Array:
        out = np.zeros(n, np.int16)
        got = 0
        with self.lock:
            while got < n and self.chunks:
                head = self.chunks[0]
                k = min(n - got, len(head))
                out[got : got + k] = head[:k]
                got += k
                if k == len(head):
                    self.chunks.popleft()
                else:
                    self.chunks[0] = head[k:]
            self.size -= got
            self.underrun += n - got
        return out


class LoopbackEnd(AudioDevice):
    def __init__(self, line: LoopbackLine, rx: _Pipe, tx: _Pipe) -> None:
        self.rate = line.rate
        self._line, self._rx, self._tx = line, rx, tx
        self._open = False
        self._due: float | None = None

    @property
    def peer(self) -> LoopbackEnd:
        return self._line.b if self is self._line.a else self._line.a

    @property
    def is_open(self) -> bool:
        return self._open

    @property
    def underrun(self) -> int:
        """Samples read as silence because nothing had been written."""
        return self._rx.underrun

    @property
    def overflow(self) -> int:
        """Samples this end wrote that were dropped because the far end did not read them."""
        return self._tx.overflow

    def open(self) -> None:
        self._open = True
        self._due = None

    def close(self) -> None:
        self._open = False

    def read(self, n: int) -> Int16Array:
        self._check_open()
        if n < 0:
            raise AudioUsageError("cannot read a negative number of samples")
        clock = self._line.clock
        if clock is not None:
            now = clock.monotonic()
            self._due = (now if self._due is None else self._due) + n / self.rate
            if self._due > now:
                self._line.sleep(self._due - now)
        return self._rx.take(n)

    def write(self, samples: npt.ArrayLike) -> None:
        self._check_open()
        self._tx.put(as_samples(samples).copy())


class LoopbackLine:
    """Two ends, ``a`` (the box) and ``b`` (the phone)."""

    def __init__(self, rate: int = 8000, *, capacity_s: float = 2.0, clock: Clock | None = None,
                 sleep: Callable[[float], None] | None = None) -> None:
        self.rate, self.clock = rate, clock
        self.sleep = sleep or time.sleep
        cap = max(1, round(capacity_s * rate))
        a_to_b, b_to_a = _Pipe(cap), _Pipe(cap)
        self.a = LoopbackEnd(self, rx=b_to_a, tx=a_to_b)
        self.b = LoopbackEnd(self, rx=a_to_b, tx=b_to_a)
