"""Echo on the box's local handset ⇄ line bridge (its own line: a local call or 911), cancelled with the
same echo path as relayed legs (``firmware.media.EchoPath``), wired the way the runtime wires it: what
the mouthpiece sends into the line is the far end of the line's hybrid echo; what the earpiece plays
(the runtime's ``VoiceQueue``) is the far end of the handset's earpiece-to-mouthpiece echo. Measured on
the hybrid model (delay, reflections, band-pass, tanh saturation, noise), by content."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from roamline.firmware.media import FRAME, EchoPath
from roamline.firmware.runtime import VoiceQueue
from roamline.hil import content, speech
from roamline.hil.handset_phone import tone_audio
from roamline.hil.hybrid_sim import HybridEcho, erle_db

pytest.importorskip("speexdsp")


def _speech(tmp: Path, seconds: float) -> np.ndarray:
    return np.tile(speech.speak(speech.NEAR_TEXT, "en-us", tmp), 3)[: int(seconds * 8000)]


def test_the_lines_echo_of_the_mouthpiece_is_taken_out_of_the_earpiece(tmp_path: Path) -> None:
    """The caller talks; the line returns their voice through its hybrid (6 dB ERL, 32 ms) plus the far
    party's 1004 Hz tone in the last two seconds. The earpiece gets the tone, not the caller's echo."""
    mouth = _speech(tmp_path, 7.0)
    n = len(mouth) // FRAME * FRAME
    far_party = np.zeros(n)
    far_party[5 * 8000:n] = tone_audio((1004.0,), (n - 5 * 8000) / 8, 8000, level_dbfs=-20.0)
    noise = np.random.default_rng(5).normal(0, 10, n)
    hybrid, line_echo = HybridEcho(32, erl_db=6.0, seed=9), EchoPath()
    assert line_echo.cancelling
    heard, echoes = [], []
    for i in range(0, n, FRAME):
        block = mouth[i:i + FRAME]
        line_echo.played(block)  # the runtime: _mic → line_echo.played → the modem
        echo = 12000 * np.tanh(hybrid.process(block) / 12000)
        echoes.append(echo)
        from_line = np.clip(np.rint(echo + far_party[i:i + FRAME] + noise[i:i + FRAME]), -32768, 32767)
        heard.append(line_echo.clean(from_line.astype(np.int16)).astype(float))  # _line_voice → earpiece
    out, echo = np.concatenate(heard), np.concatenate(echoes)
    single = slice(8000, 5 * 8000)  # converged, caller only
    assert erle_db(echo[single], out[single]) >= 15.0
    assert content.check_tone(out[5 * 8000:], 8000, 1004.0, min_s=1.0).ok  # the far party still heard
    # without the bridge's canceller the caller hears themselves about 6 dB down
    assert erle_db(echo[single], echo[single]) == pytest.approx(0.0, abs=0.1)


def test_the_earpieces_echo_is_taken_out_of_what_the_mouthpiece_sends_down_the_line(
    tmp_path: Path,
) -> None:
    """The far party talks into the earpiece (through the runtime's VoiceQueue); the handset couples it
    back into the mouthpiece (a 4 ms, 10 dB path). What goes down the line has that echo removed."""
    far = _speech(tmp_path, 6.0)
    n = len(far) // FRAME * FRAME
    ear_echo = EchoPath()
    earpiece = VoiceQueue(played=ear_echo.played)
    coupling = HybridEcho(4, erl_db=10.0, seed=4)
    noise = np.random.default_rng(6).normal(0, 10, n)
    sent, echoes = [], []
    for i in range(0, n, FRAME):
        earpiece.push(far[i:i + FRAME].astype(np.int16))  # the line's audio, pushed by the pump
        played = earpiece.read(FRAME)  # the handset thread plays it
        echo = coupling.process(played)
        echoes.append(echo)
        mic = np.clip(np.rint(echo + noise[i:i + FRAME]), -32768, 32767).astype(np.int16)
        sent.append(ear_echo.clean(mic).astype(float))  # _mic: cleaned, then to the line
    out, echo = np.concatenate(sent), np.concatenate(echoes)
    assert erle_db(echo[8000:], out[8000:]) >= 15.0
