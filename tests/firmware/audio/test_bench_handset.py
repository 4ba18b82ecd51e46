"""`roamline bench handset`: the audio parts' figures and the JSON/unavailable contract."""

from __future__ import annotations

import argparse
import json

import pytest

from roamline.hil import bench_handset, speech


def test_jitter_part_reports_delay_at_20ms_jitter() -> None:
    r = bench_handset._jitter(quick=True)
    assert 15 <= r["jitter_buffer_added_ms"] <= 45
    assert r["jitter_buffer_added_ms_no_jitter"] < 5


@pytest.mark.skipif(not speech.available(), reason="espeak-ng not installed")
@pytest.mark.filterwarnings("ignore:the imp module is deprecated:DeprecationWarning")
def test_aec_part_reports_erle_and_cpu() -> None:
    r = bench_handset._aec(quick=True)
    assert r["aec_erle_db"] >= 20 and set(r["aec_erle_db_by_path"]) == {"4ms", "16ms", "32ms", "64ms"}
    assert r["aec_cpu_ms_per_audio_s"] > 0


@pytest.mark.skipif(not speech.available(), reason="espeak-ng not installed")
@pytest.mark.filterwarnings("ignore:the imp module is deprecated:DeprecationWarning")
def test_aec_doubletalk_part_reports_echo_reduction_while_both_talk() -> None:
    r = bench_handset._aec_doubletalk(quick=True)
    # before the 20 ms filter joined the 10 ms one: 12.7 dB on the 8 ms path, 7.3 in its worst 0.5 s
    assert set(r["aec_doubletalk_erle_db_by_path"]) == {"8ms", "32ms", "64ms"}
    assert r["aec_doubletalk_erle_db"] >= 15
    assert r["aec_doubletalk_worst_500ms_db"] >= 10
    assert r["aec_doubletalk_near_share_db"] >= 15


def test_a_missing_part_is_null_with_a_reason(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    def broken(quick: bool) -> dict[str, object]:
        raise ImportError("no module named roamline.firmware.audio.nothing")

    monkeypatch.setattr(bench_handset, "PARTS", (
        ("jitter buffer", bench_handset._jitter, ("jitter_buffer_added_ms",)),
        ("dtmf", broken, ("dtmf_cpu_ms_per_audio_s",)),
    ))
    status = bench_handset.run(argparse.Namespace(json=True, quick=True))
    out = capsys.readouterr()
    last = json.loads(out.out.strip().splitlines()[-1])
    assert status == 1
    assert last["dtmf_cpu_ms_per_audio_s"] is None and "dtmf" in last["unavailable"]
    assert last["jitter_buffer_added_ms"] > 0
    assert "measuring" in out.err
