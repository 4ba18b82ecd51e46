"""Spoken prompts: made with espeak-ng (+ sox to 8 kHz) at set-up into the box's data dir, read at start.

A prompt is never silence: a missing prompt file is a start-up error naming it, and making them needs
``espeak-ng`` and ``sox`` on the PATH (``scripts/bootstrap.sh`` installs both).
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path
from typing import Any

from roamline.firmware.errors import UsageError

ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh")


def texts(choice_keys: str, max_slots: int) -> dict[str, str]:
    out = {
        "insert-card": "Please insert your card to make this call.",
        "not-available": "This service is not available yet.",
        "cloud-unreachable": "The service cannot be reached. Please try again later.",
        "refused": "Your call cannot be completed.",
        "refused-no-route": "There is no line for this number. Your call cannot be completed.",
        "refused-no-rights": "You may not call this number from here.",
        "refused-not-reachable": "The person you are calling cannot be reached.",
        "refused-unknown-card": "Your card is not registered here. Please take it out and insert it again.",
        "refused-line-busy": "All lines are busy. Please try again later.",
        "refused-no-dialtone": "The line is out of service. Please try again later.",
        "refused-line-error": "The line failed. Please try again later.",
        "refused-duplicate-call": "Your call cannot be completed.",
        "emergency-no-line": "The telephone line is not working. Your emergency call is going through "
                             "the network. Please stay on the line.",
        "half-duplex": "This line cannot carry a conversation.",
        "no-speed-dial": "There is no number on this speed-dial.",
        "local-no-code": "There is no local service on this code.",
        "local-no-location": "The location of this telephone is not known, so no local service can be found.",
        "local-no-service": "There is no such service near this telephone.",
        "refused-filtered": "The person you are calling does not take this call now.",
        "voicemail-unavailable": "The person you are calling cannot take your call. Your call has been "
                                 "noted. Goodbye.",
        # the holder's mailbox (*98)
        "vm-none": "You have no messages. To record your greeting, press star.",
        "vm-menu": "To delete this message, press 7. To save it, press 9. For the next message, press the "
                   "pound key.",
        "vm-deleted": "Message deleted.",
        "vm-saved": "Message saved.",
        "vm-end": "You have no more messages. To record your greeting, press star.",
        "vm-greeting": "After the tone, say your greeting. Then press the pound key.",
        "vm-greeting-saved": "Your greeting is saved.",
        "vm-pin": "Please enter your PIN, then press the pound key.",
        "vm-pin-wrong": "That PIN is not right. Please enter your PIN, then press the pound key.",
        "vm-pin-failed": "That PIN is not right. You have tried three times. Goodbye.",
        "vm-pin-locked": "Too many wrong PINs were entered. Your messages are locked for a while. Goodbye.",
        "vm-pin-none": "No PIN was entered. Goodbye.",
    }
    for n in range(2, max_slots + 1):
        keys = range(min(n, len(choice_keys)))
        parts = [f"For the {ORDINALS[i]} card, press {choice_keys[i]}." for i in keys]
        out[f"choose-holder-{n}"] = "Who is calling? " + " ".join(parts)
    return out


def greeting_name(number: str) -> str:
    """The prompt file of the default voicemail greeting for ``number`` (E.164)."""
    return "greeting-" + "".join(c for c in number if c.isdigit())


def greeting_text(number: str) -> str:
    """The default voicemail greeting: names the number called, digit by digit (NANP: 3-3-4 groups)."""
    digits = "".join(c for c in number if c.isdigit())
    if number.startswith("+1") and len(digits) == 11:
        groups = [digits[1:4], digits[4:7], digits[7:]]
    else:
        groups = [digits[i:i + 3] for i in range(0, len(digits), 3)]
    said = ", ".join(" ".join(g) for g in groups)
    return f"You have reached {said}. Please leave a message after the tone."


def beep(rate: int = 8000, hz: float = 1000.0, seconds: float = 0.4, dbfs: float = -10.0) -> Any:
    """The tone after a voicemail greeting (int16, with 5 ms ramps so it does not click)."""
    import numpy as np

    n = int(rate * seconds)
    t = np.arange(n) / rate
    x = np.sin(2 * np.pi * hz * t) * (32767 * 10 ** (dbfs / 20))
    ramp = min(n // 2, int(rate * 0.005))
    env = np.ones(n)
    env[:ramp], env[n - ramp:] = np.linspace(0, 1, ramp), np.linspace(1, 0, ramp)
    return (x * env).astype(np.int16)


def _synthesise(final: Path, text: str, voice: str) -> None:
    espeak, sox = shutil.which("espeak-ng"), shutil.which("sox")
    if espeak is None or sox is None:
        raise UsageError(f"cannot make prompt {final.stem}: espeak-ng/sox are not installed "
                         "(scripts/bootstrap.sh)")
    raw = final.with_suffix(".raw.wav")
    try:
        subprocess.run([espeak, "-v", voice, "-s", "150", "-w", str(raw), text], check=True,
                       capture_output=True, timeout=30)
        subprocess.run([sox, str(raw), "-r", "8000", "-c", "1", "-b", "16", str(final)], check=True,
                       capture_output=True, timeout=30)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        raise UsageError(f"cannot make prompt {final.stem}: {exc}") from None
    finally:
        raw.unlink(missing_ok=True)


def spoken(folder: Path, name: str, text: str, voice: str = "en-us") -> Any:
    """A prompt whose words change with the box's configuration (the 933 readback): made with espeak-ng
    when ``text`` differs from what ``name.wav`` says (``name.txt`` keeps the words), then loaded."""
    folder.mkdir(parents=True, exist_ok=True)
    said = folder / f"{name}.txt"
    try:
        current = said.read_text(encoding="utf-8")
    except OSError:
        current = None
    if current != text or not (folder / f"{name}.wav").is_file():
        _synthesise(folder / f"{name}.wav", text, voice)
        said.write_text(text, encoding="utf-8")
    return load_prompts(folder, [name])[name]


def ensure_prompts(folder: Path, *, choice_keys: str, max_slots: int, voice: str = "en-us") -> list[str]:
    """Make every prompt that is missing in ``folder``; returns the names made."""
    want = texts(choice_keys, max_slots)
    missing = [n for n in want if not (folder / f"{n}.wav").is_file()]
    if not missing:
        return []
    espeak, sox = shutil.which("espeak-ng"), shutil.which("sox")
    if espeak is None or sox is None:
        raise UsageError(f"prompts missing in {folder} ({', '.join(missing[:3])}…) and espeak-ng/sox are not "
                         "installed to make them (run scripts/bootstrap.sh)")
    folder.mkdir(parents=True, exist_ok=True)
    for name in missing:
        raw, final = folder / f"{name}.raw.wav", folder / f"{name}.wav"
        try:
            subprocess.run([espeak, "-v", voice, "-s", "150", "-w", str(raw), want[name]], check=True,
                           capture_output=True, timeout=30)
            subprocess.run([sox, str(raw), "-r", "8000", "-c", "1", "-b", "16", str(final)], check=True,
                           capture_output=True, timeout=30)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            raise UsageError(f"cannot make prompt {name}: {exc}") from None
        finally:
            raw.unlink(missing_ok=True)
    return missing


def load_prompts(folder: Path, names: list[str]) -> dict[str, Any]:
    """The prompts as int16 arrays at 8 kHz; UsageError naming the first that is missing or silent."""
    import numpy as np

    out: dict[str, Any] = {}
    for name in names:
        path = folder / f"{name}.wav"
        try:
            with wave.open(str(path), "rb") as w:
                if w.getframerate() != 8000 or w.getsampwidth() != 2 or w.getnchannels() != 1:
                    raise UsageError(f"prompt {path}: must be 8 kHz 16-bit mono")
                x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)
        except (OSError, wave.Error) as exc:
            raise UsageError(f"prompt {path}: {exc}") from None
        if len(x) < 800 or int(np.abs(x).max()) < 300:
            raise UsageError(f"prompt {path}: silent or too short")
        out[name] = x
    return out
