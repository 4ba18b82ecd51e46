"""Modem profiles as data (``profiles/*.toml``): identification, init strings, caller ID, voice formats,
end-of-stream style and quirks. Auto-detected from identification responses, overridable by name."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Literal

import msgspec

from roamline.firmware.line.errors import LineUsageError
from roamline.wire.config import Frozen, load_toml

HERE = Path(__file__).parent / "profiles"

# Sent in this order to identify a modem; a modem answering ERROR to some of them is normal.
IDENTIFY_COMMANDS = ("ATI0", "ATI3", "AT+FMI?", "AT+FMM?", "AT+GMM", "ATI9")


class IdentifyRule(Frozen, frozen=True, kw_only=True):
    command: str  # one of IDENTIFY_COMMANDS
    pattern: str  # regular expression, case-insensitive, searched in the command's information text


class VoiceFormat(Frozen, frozen=True, kw_only=True):
    code: int  # the +VSM compression method number
    encoding: Literal["ulaw", "alaw", "u8", "s8", "s16le"]


class Voice(Frozen, frozen=True, kw_only=True):
    formats: tuple[VoiceFormat, ...]  # preferred first
    rate: int = 8000
    full_duplex: bool  # +VTR exists: can bridge a conversation
    eos: Literal["single", "triple"] = "single"  # DLE end-of-stream style (see dle.py)
    line_select: str = "AT+VLS=1"  # off-hook to the line (answer / before dialling)
    on_hook: str = "AT+VLS=0"
    silence: str = "AT+VSD=128,0"  # silence detection: sensitivity, duration (0 = off)
    inactivity: str = "AT+VIT=0"  # DTE inactivity timer off: we stream continuously


class Quirks(Frozen, frozen=True, kw_only=True):
    answer_needs_ata: bool = False  # answer with ATA instead of +VLS=1
    dial_returns_immediately: bool = True  # voice ATD answers OK/VCON at once, not on answer
    cid_hex_prefix: str = ""  # text before +VCID=2 hex on a line ("MESG = ")
    dtmf_in_command_mode: bool = True  # DLE DTMF events reported while no stream runs


class ModemProfile(Frozen, frozen=True, kw_only=True):
    name: str
    title: str
    aliases: tuple[str, ...] = ()
    usb: tuple[str, ...] = ()  # "vvvv:pppp" hex ids, to re-find the device after an unplug
    identify: tuple[IdentifyRule, ...]
    reset: str = "ATZ"
    init: tuple[str, ...]
    caller_id: str = "AT+VCID=1"
    caller_id_unformatted: str = "AT+VCID=2"
    voice: Voice
    quirks: Quirks = msgspec.field(default_factory=Quirks)
    priority: int = 0  # higher is tried first when several profiles match

    def matches(self, responses: Mapping[str, str]) -> bool:
        return any(
            re.search(rule.pattern, responses.get(rule.command, ""), re.IGNORECASE) for rule in self.identify
        )

    def voice_select(self) -> str:
        fmt = self.voice.formats[0]
        return f"AT+VSM={fmt.code},{self.voice.rate}"


@cache
def all_profiles() -> tuple[ModemProfile, ...]:
    found = [load_toml(ModemProfile, p) for p in sorted(HERE.glob("*.toml"))]
    return tuple(sorted(found, key=lambda p: -p.priority))


def by_name(name: str) -> ModemProfile:
    key = name.lower()
    for p in all_profiles():
        if key == p.name or key in p.aliases:
            return p
    known = ", ".join(p.name for p in all_profiles())
    raise LineUsageError(f"unknown modem profile {name!r} (known: {known})")


def detect(responses: Mapping[str, str]) -> ModemProfile | None:
    """The first profile (by priority) whose identification rules match ``responses``."""
    return next((p for p in all_profiles() if p.matches(responses)), None)


def by_usb(vid_pid: str) -> ModemProfile | None:
    return next((p for p in all_profiles() if vid_pid.lower() in p.usb), None)
