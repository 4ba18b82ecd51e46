"""`roamline bench handset --json`: DTMF CPU, jitter-buffer delay at 20 ms jitter, ring trip, AEC.

Figures (last stdout line, one JSON object; progress goes to stderr):
- ``dtmf_cpu_ms_per_audio_s``: DTMF detector CPU per second of handset audio (roamline.firmware.audio.dtmf
  on roamline.hil.dtmf_signal's noisy keys); ``dtmf_keys_all_heard`` says it heard every one of them.
- ``jitter_buffer_added_ms``: mean of (playout time - send time - base network delay) for 20 ms
  packets, each delayed by an extra uniform 0–20 ms (DESIGN §8a), reordering allowed, counted after a
  2 s start-up, averaged over five playout-clock phases: a real device clock has an arbitrary phase
  against packet arrivals, which costs up to one more frame. ``..._aligned_clock`` is the best case (the
  playout clock phased so a jitter-free stream adds ~0.5 ms), with its p95, late loss and concealment.
- ``ring_trip_ms``: median ring-trip latency from the handset runner (roamline.hil.bench_ringtrip).
- ``aec_erle_db``: the smallest ERLE, over simulated hybrids with 4/16/32/64 ms echo paths, measured on
  espeak-ng speech from 1 s after the call starts to its end; ``aec_erle_db_by_path`` has each.
- ``aec_cpu_ms_per_audio_s``: echo canceller CPU (estimator + Speex) per second of audio.
- ``aec_doubletalk_erle_db``: the smallest echo reduction while both ends talk, over hybrids with
  4/8/16/32/64 ms paths that also saturate (tanh) and add −70 dBFS noise: the far end talks for 10 s,
  the near end (another espeak-ng voice, louder than the echo) over it from 4 s to 9 s; measured on the
  echo component (``hybrid_sim.doubletalk_erle_db``: output less the near speech as the canceller's
  front end passes it). ``..._by_path`` has each, ``aec_doubletalk_worst_500ms_db`` the worst half
  second of any path, ``aec_doubletalk_near_share_db`` the smallest share of the output that is the
  near speech (``hybrid_sim.linear_share_db``: the near speech over what is not a linear filtering of it).
A part that cannot run is reported as null with its reason under ``unavailable``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

SUMMARY = "handset benchmarks: DTMF CPU, jitter buffer delay, ring trip, echo cancellation"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    parser.add_argument("--quick", action="store_true", help="shorter runs (for smoke tests)")


def _progress(msg: str) -> None:
    print(f"bench handset: {msg}", file=sys.stderr, flush=True)


def _dtmf(quick: bool) -> dict[str, Any]:
    from roamline.hil.dtmf_signal import detector_cpu

    run = detector_cpu(audio_s=5.0 if quick else 20.0)
    ms = run.ms_per_audio_s
    return {"dtmf_cpu_ms_per_audio_s": round(ms, 3), "dtmf_cpu_pct_of_core": round(ms / 10, 3),
            "dtmf_keys_sent": len(run.keys_sent), "dtmf_keys_all_heard": run.keys_detected == run.keys_sent}


def _jitter(quick: bool) -> dict[str, Any]:
    from roamline.hil.jitter_sim import simulate

    seconds = 10.0 if quick else 60.0
    run = simulate(20.0, seconds, seed=1, warmup_s=2.0)
    calm = simulate(0.0, seconds, seed=1, warmup_s=2.0)
    # a real device clock has an arbitrary phase against packet arrivals: average over phases too
    phased = [simulate(20.0, seconds / 3, seed=2 + i, warmup_s=2.0, phase_ms=p).added_ms
              for i, p in enumerate((2.0, 6.0, 10.0, 14.0, 18.0))]
    return {
        "jitter_buffer_added_ms": round(sum(phased) / len(phased), 2),
        "jitter_buffer_added_ms_aligned_clock": round(run.added_ms, 2),
        "jitter_buffer_added_p95_ms_aligned_clock": round(run.added_p95_ms, 2),
        "jitter_buffer_target_ms": round(run.target_ms, 2),
        "jitter_buffer_late_pct": round(run.late_pct, 3),
        "jitter_buffer_concealed_pct": round(run.concealed_pct, 3),
        "jitter_buffer_added_ms_no_jitter": round(calm.added_ms, 2),
    }


def _ring(quick: bool) -> dict[str, Any]:
    from roamline.hil.bench_ringtrip import ring_trip_ms

    return dict(ring_trip_ms(trials=5 if quick else 20))


def _aec(quick: bool) -> dict[str, Any]:
    import tempfile
    from pathlib import Path

    import numpy as np

    from roamline.firmware.audio.echo import EchoCanceller
    from roamline.hil import speech
    from roamline.hil.hybrid_sim import HybridEcho, erle_db

    with tempfile.TemporaryDirectory() as tmp:
        far = speech.speak(speech.FAR_TEXT, "en-us", Path(tmp))
    if quick:
        far = far[: 4 * 8000]
    by_path: dict[str, float] = {}
    cpu = 0.0
    audio_s = 0.0
    for delay in (4, 16, 32, 64):
        echo = HybridEcho(delay, erl_db=6.0, seed=delay).process(far)
        mic = np.clip(np.rint(echo), -32768, 32767).astype(np.int16)
        ec = EchoCanceller(8000)
        n = len(mic) // 160 * 160
        t0 = time.process_time()
        out = np.concatenate([ec.process(mic[i : i + 160], far[i : i + 160]) for i in range(0, n, 160)])
        cpu += time.process_time() - t0
        audio_s += n / 8000
        by_path[f"{delay}ms"] = round(erle_db(echo[8000:n], out[8000:].astype(float)), 2)
    return {
        "aec_erle_db": min(by_path.values()),
        "aec_erle_db_by_path": by_path,
        "aec_cpu_ms_per_audio_s": round(cpu * 1000 / audio_s, 3),
    }


def _aec_doubletalk(quick: bool) -> dict[str, Any]:
    import tempfile
    from pathlib import Path

    import numpy as np

    from roamline.firmware.audio.echo import EchoCanceller
    from roamline.hil import speech
    from roamline.hil.hybrid_sim import HybridEcho, doubletalk_erle_db, linear_share_db

    rate = 8000
    with tempfile.TemporaryDirectory() as tmp:
        far = np.tile(speech.speak(speech.FAR_TEXT, "en-us", Path(tmp)), 3)[: 10 * rate].astype(float)
        voice = speech.speak(speech.NEAR_TEXT, "en-gb+f3", Path(tmp), words_per_minute=140)
    talk = slice(4 * rate, 9 * rate)
    by_path: dict[str, float] = {}
    halves: list[float] = []
    shares: list[float] = []
    for delay in (8, 32, 64) if quick else (4, 8, 16, 32, 64):
        near = np.random.default_rng(delay).normal(0, 10, len(far))
        near[talk] += 0.7 * np.tile(voice, 2)[: talk.stop - talk.start]
        echo = 12000 * np.tanh(HybridEcho(delay, erl_db=6.0, seed=delay).process(far) / 12000)
        mic = np.clip(np.rint(echo + near), -32768, 32767).astype(np.int16)
        out = EchoCanceller(rate).process(mic, far.astype(np.int16)).astype(float)
        by_path[f"{delay}ms"] = round(doubletalk_erle_db(echo[talk], out[talk], near[talk]), 2)
        for i in range(talk.start, talk.stop, rate // 2):
            half = slice(i, i + rate // 2)
            halves.append(doubletalk_erle_db(echo[half], out[half], near[half]))
        shares.append(linear_share_db(near[talk], out[talk]))
    return {
        "aec_doubletalk_erle_db": min(by_path.values()),
        "aec_doubletalk_erle_db_by_path": by_path,
        "aec_doubletalk_worst_500ms_db": round(min(halves), 2),
        "aec_doubletalk_near_share_db": round(min(shares), 2),
    }


PARTS = (
    ("dtmf", _dtmf, ("dtmf_cpu_ms_per_audio_s",)),
    ("jitter buffer", _jitter, ("jitter_buffer_added_ms",)),
    ("ring trip", _ring, ("ring_trip_ms",)),
    ("echo cancellation", _aec, ("aec_erle_db", "aec_cpu_ms_per_audio_s")),
    ("echo cancellation in double-talk", _aec_doubletalk, ("aec_doubletalk_erle_db",)),
)


def measure(quick: bool = False) -> dict[str, Any]:
    result: dict[str, Any] = {}
    unavailable: dict[str, str] = {}
    for name, fn, keys in PARTS:
        _progress(f"measuring {name} ...")
        t0 = time.monotonic()
        try:
            result.update(fn(quick))
        except Exception as exc:  # one missing part must not hide the others' figures
            for k in keys:
                result[k] = None
            unavailable[name] = f"{type(exc).__name__}: {exc}"
            _progress(f"{name} unavailable: {exc}")
        else:
            _progress(f"{name} done in {time.monotonic() - t0:.1f} s")
    if unavailable:
        result["unavailable"] = unavailable
    return result


def run(args: argparse.Namespace) -> int:
    result = measure(quick=args.quick)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")
    return 1 if "unavailable" in result else 0
