"""One leg of a relayed call's voice at the box: PCMU RTP in QUIC datagrams (``wire.media``) both ways.

Sending: 20 ms blocks of 8 kHz audio (the mouthpiece, or what the modem heard from the line) go through
the echo canceller (Speex MDF behind ``firmware.audio.echo``, with the far end = what this leg played
into the same hybrid), are µ-law coded and packed as RTP with the cloud's flow id. Receiving: datagrams
for the flow go into the adaptive jitter buffer (``firmware.audio.jitter``), and each ``pull`` gives
the next 20 ms for the earpiece or the modem. Sans-I/O apart from the lock: the handset's audio thread,
the line pump and the event loop each call in from their own thread.
"""

from __future__ import annotations

import secrets
import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from roamline.firmware.audio import g711
from roamline.firmware.audio.jitter import JitterBuffer, MediaPacket, PlayoutFrame
from roamline.wire import media

FRAME = media.PCMU_FRAME_BYTES  # 160 samples = 20 ms
Int16Array = npt.NDArray[np.int16]


class EchoPath:
    """Echo cancelled on what comes back out of a hybrid (a line's 2-to-4-wire hybrid, or a handset's
    earpiece-to-mouthpiece path): ``played`` is told what went in, ``clean`` takes what came out (any
    lengths, from another thread) and returns the whole 20 ms frames with the echo of what was played
    removed (the Speex canceller behind the delay estimator, ``firmware.audio.echo``). Relayed legs and
    the box's local handset ⇄ line bridge use the same one. Without speexdsp it passes audio through."""

    def __init__(self, *, echo: bool = True) -> None:
        self._lock = threading.Lock()
        self._echo: Any = None
        if echo:
            try:
                from roamline.firmware.audio.echo import EchoCanceller

                self._echo = EchoCanceller(8000)
            except Exception:  # no speexdsp on this machine: voice goes on, echo is not cancelled
                self._echo = None
        self._played = np.zeros(0, dtype=np.int16)  # audio played into the hybrid, not yet used
        self._pending = np.zeros(0, dtype=np.int16)  # returning audio short of a whole frame

    @property
    def cancelling(self) -> bool:
        return self._echo is not None

    def played(self, samples: Int16Array) -> None:
        if self._echo is None:
            return
        with self._lock:  # a little history: the two sides' threads do not run in lock step
            self._played = np.concatenate([self._played[-4 * FRAME:], np.asarray(samples, dtype=np.int16)])

    def frames(self, near: Int16Array) -> list[Int16Array]:
        """``near`` (any length) → every whole 20 ms frame now complete, echo removed."""
        out: list[Int16Array] = []
        with self._lock:
            self._pending = np.concatenate([self._pending, np.asarray(near, dtype=np.int16)])
            while len(self._pending) >= FRAME:
                frame, self._pending = self._pending[:FRAME], self._pending[FRAME:]
                if self._echo is not None:
                    far = self._played[:FRAME]
                    if len(far) < FRAME:
                        far = np.concatenate([far, np.zeros(FRAME - len(far), dtype=np.int16)])
                    self._played = self._played[FRAME:]
                    frame = self._echo.process(frame, far)
                out.append(frame)
        return out

    def clean(self, near: Int16Array) -> Int16Array:
        frames = self.frames(near)
        return np.concatenate(frames) if frames else np.zeros(0, dtype=np.int16)


class MediaLeg:
    def __init__(self, flow_id: int, *, echo: bool = True, plc: bool = True, ssrc: int | None = None,
                 now: float = 0.0, min_delay_ms: float = 0.0) -> None:
        self.flow_id = flow_id
        self.heard_at = now  # when the last datagram for this flow came (or the leg was made)
        self.ssrc = ssrc if ssrc is not None else secrets.randbits(32)
        self._seq = secrets.randbits(16)
        self._ts = secrets.randbits(32)
        self._jitter = JitterBuffer(8000, FRAME, plc=plc, min_delay_ms=min_delay_ms,
                                    initial_delay_ms=max(60.0, min_delay_ms))
        self._lock = threading.Lock()
        self._echo = EchoPath(echo=echo)
        self.sent = 0
        self.received = 0
        self.dropped = 0

    # -- sending -----------------------------------------------------------------------------------------
    def send(self, near: Int16Array) -> list[bytes]:
        """Near-end audio (any length) → datagrams for every whole 20 ms frame."""
        out: list[bytes] = []
        frames = self._echo.frames(near)
        with self._lock:
            for frame in frames:
                pkt = media.RtpPacket(seq=self._seq, timestamp=self._ts, ssrc=self.ssrc,
                                      payload=g711.encode("ulaw", frame))
                self._seq = (self._seq + 1) & 0xFFFF
                self._ts = (self._ts + FRAME) & 0xFFFFFFFF
                out.append(media.encode_datagram(self.flow_id, pkt))
                self.sent += 1
        return out

    # -- receiving ---------------------------------------------------------------------------------------
    def receive(self, datagram: bytes, now: float) -> bool:
        """One datagram for this flow (False: malformed or not ours, dropped and counted)."""
        try:
            d = media.decode_datagram(datagram)
        except Exception:  # wire.errors.MalformedMedia and its kinds: drop, count
            self.dropped += 1
            return False
        if d.flow_id != self.flow_id:
            self.dropped += 1
            return False
        samples = g711.decode("ulaw", d.packet.payload)
        with self._lock:
            self._jitter.push(MediaPacket(d.packet.seq, d.packet.timestamp, samples), now)
            self.received += 1
            self.heard_at = now
        return True

    def pull(self, now: float) -> Int16Array:
        """The next 20 ms to play (earpiece or modem); remembered as the echo canceller's far end."""
        return self.pull_frame(now).samples

    def pull_frame(self, now: float) -> PlayoutFrame:
        """``pull`` with what the jitter buffer knows of the frame: real audio or concealed, and the
        RTP timestamp of its first sample (``timestamp``, unwrapped)."""
        with self._lock:
            f = self._jitter.pull(now)
        self._echo.played(f.samples)
        return f

    @property
    def stats(self) -> dict[str, int]:
        s = self._jitter.stats
        return {"sent": self.sent, "received": self.received, "dropped": self.dropped, "late": s.late,
                "concealed": s.concealed, "played": s.played}


class LegSource:
    """The earpiece's BlockSource for a relayed call: pulls 20 ms frames from the leg on a clock."""

    def __init__(self, leg: MediaLeg, clock: Any) -> None:
        self.leg = leg
        self._clock = clock
        self._buf = np.zeros(0, dtype=np.int16)

    @property
    def finished(self) -> bool:
        return False

    def read(self, n: int) -> Int16Array:
        while len(self._buf) < n:
            self._buf = np.concatenate([self._buf, self.leg.pull(self._clock.monotonic())])
        out, self._buf = self._buf[:n], self._buf[n:]
        return out


def flow_of(datagram: bytes) -> int | None:
    """The flow id a datagram is for (None if it has none)."""
    try:
        return media.split_flow(datagram)[0]
    except Exception:  # malformed: nobody's
        return None
