"""Drive a JitterBuffer with a simulated network (DESIGN §8a: "20 ms jitter" = each packet delayed by
an extra uniform 0–20 ms, reordering allowed) on a virtual clock, and measure what the buffer adds."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from roamline.firmware.audio.jitter import JitterBuffer, MediaPacket, PlayoutFrame


@dataclass(frozen=True)
class JitterRun:
    added_ms: float  # mean(playout - send) - base network delay, over frames played from packets
    added_p95_ms: float
    wait_ms: float  # mean time a packet waited in the buffer (playout - arrival)
    late_pct: float
    concealed_pct: float
    target_ms: float  # the buffer's final target delay
    frames: list[PlayoutFrame]
    sent: np.ndarray


def simulate(jitter_ms: float, seconds: float = 30.0, *, seed: int = 0, base_ms: float = 30.0,
             plc: bool = True,
             phase_ms: float | None = None, loss: float = 0.0, rate: int = 8000, frame: int = 160,
             jb: JitterBuffer | None = None, signal: np.ndarray | None = None,
             jitter_after: tuple[float, float] | None = None, warmup_s: float = 0.0) -> JitterRun:
    """Packets every frame from t=0 (timestamp 0), arriving base + U(0, jitter); playout pulls every
    frame at ``phase_ms`` after each packet's send time (default: 0.5 ms after a jitter-free packet would
    arrive, so that device-clock phase adds nothing). ``jitter_after=(t, ms)`` changes the jitter at t.
    Delay figures count frames played from ``warmup_s`` on."""
    rng = np.random.default_rng(seed)
    buf = jb or JitterBuffer(rate, frame, plc=plc)
    dt = frame / rate
    if phase_ms is None:
        phase_ms = base_ms % (1000 * dt) + 0.5
    n = int(seconds / dt)
    if signal is None:
        t = np.arange(n * frame) / rate
        signal = (3000 * np.sin(2 * np.pi * 300 * t) + 1000 * np.sin(2 * np.pi * 1170 * t)).astype(np.int16)
    arrivals: list[tuple[float, int]] = []
    for k in range(n):
        j = jitter_ms if jitter_after is None or k * dt < jitter_after[0] else jitter_after[1]
        if rng.random() >= loss:
            arrivals.append((k * dt + base_ms / 1000 + rng.uniform(0, j / 1000), k))
    heapq.heapify(arrivals)
    arrived: dict[int, float] = {}
    frames: list[PlayoutFrame] = []
    added: list[float] = []
    waits: list[float] = []
    for m in range(n + int(0.5 / dt)):
        now = m * dt + phase_ms / 1000
        while arrivals and arrivals[0][0] <= now:
            at, k = heapq.heappop(arrivals)
            arrived[k] = at
            payload = signal[k * frame : (k + 1) * frame]
            buf.push(MediaPacket(k & 0xFFFF, (k * frame) & 0xFFFFFFFF, payload), at)
        f = buf.pull(now)
        frames.append(f)
        if f.kind == "audio" and f.timestamp is not None and now >= warmup_s:
            k = f.timestamp // frame
            added.append(now - k * dt - base_ms / 1000)
            waits.append(now - arrived[k])
    s = buf.stats
    # frames inside the stream (not the pulls after its end): how many were not real audio
    in_stream = [f for f in frames if f.timestamp is not None and f.timestamp < n * frame]
    gaps = [f for f in in_stream if f.kind != "audio"]
    return JitterRun(
        added_ms=1000 * float(np.mean(added)) if added else float("nan"),
        added_p95_ms=1000 * float(np.quantile(added, 0.95)) if added else float("nan"),
        wait_ms=1000 * float(np.mean(waits)) if waits else float("nan"),
        late_pct=100 * s.late / max(1, s.received),
        concealed_pct=100 * len(gaps) / max(1, len(in_stream)),
        target_ms=1000 * buf.target_delay,
        frames=frames,
        sent=signal,
    )
