"""Modem dialects as data: how each simulated chipset answers, reports and frames (our model of them).

Identification strings and +VSM code tables follow the vendors' command references as far as we
know them; what a dialect changes is listed in :class:`Dialect` so tests can vary one thing at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from roamline.hil.errors import UsageError


@dataclass(frozen=True, slots=True)
class VoiceFormat:
    code: int  # the <cml> of +VSM
    label: str  # the <cmid> string shown by +VSM=?
    bits: int
    encoding: str  # "u8" unsigned 8-bit, "s8" signed 8-bit, "s16le", "ulaw", "alaw"


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    ati: dict[int, str]  # ATIn information text (may hold several lines separated by \r\n)
    manufacturer: str  # +GMI / +FMI?
    model: str  # +GMM / +FMM?
    revision: str  # +GMR / +FMR?
    fclass_range: str  # +FCLASS=? answer
    formats: tuple[VoiceFormat, ...]
    default_format: int
    has_vtr: bool  # full duplex +VTR
    cid_commands: tuple[str, ...]  # "+VCID" and/or "#CID"
    cid_sep: str  # between tag and value in formatted caller ID: " = " or "="
    cid_hex_tag: str  # prefix of an unformatted (+VCID=2) line: "MESG = " or "" (bare hex)
    eos_triple: bool  # the DCE ends a voice stream with DLE DLE DLE ETX instead of DLE ETX
    answer_result: str  # answer to ATA / +VLS=1 on a ringing line in voice mode: "VCON" or "OK"
    dial_result: str  # answer to a voice-mode ATD once the call is deemed connected: "VCON" or "OK"
    vls_range: str  # +VLS=? answer
    dial_immediate: bool = False  # voice ATD answers as soon as the digits are out (progress via DLE only)
    numeric: dict[str, str] = field(
        default_factory=lambda: {
            "OK": "0", "CONNECT": "1", "RING": "2", "NO CARRIER": "3", "ERROR": "4",
            "NO DIALTONE": "6", "BUSY": "7", "NO ANSWER": "8", "VCON": "9",
        }
    )

    def format_by_code(self, code: int) -> VoiceFormat | None:
        return next((f for f in self.formats if f.code == code), None)


_CONEXANT_SOFT = (
    VoiceFormat(1, "UNSIGNED PCM", 8, "u8"),
    VoiceFormat(128, "8-BIT LINEAR", 8, "s8"),
    VoiceFormat(130, "UNSIGNED PCM", 8, "u8"),
    VoiceFormat(131, "ULAW", 8, "ulaw"),
    VoiceFormat(132, "ALAW", 8, "alaw"),
    VoiceFormat(133, "LINEAR", 16, "s16le"),
)

USR5637 = Dialect(
    name="usr5637",
    ati={
        0: "5601",
        1: "OK",
        2: "OK",
        3: "U.S. Robotics 56K FAX USB V1.2.23",
        4: "U.S. Robotics 56K FAX USB",
        5: "USR5637 Settings...",
        6: "Link Diagnostics...",
        7: "U.S. Robotics 56K FAX USB\r\nProduct Code: USR5637",
        9: "(1.0USR0008\\\\MODEM\\FAX,VOICE\\USRobotics 56K FAX USB)",
    },
    manufacturer="U.S. Robotics",
    model="USR5637",
    revision="1.2.23",
    fclass_range="0,1,1.0,2,8",
    formats=_CONEXANT_SOFT,
    default_format=128,
    has_vtr=False,
    cid_commands=("+VCID",),
    cid_sep=" = ",
    cid_hex_tag="",
    eos_triple=False,
    answer_result="VCON",
    dial_result="VCON",
    vls_range="0,1,4,5,7,13,15",
    dial_immediate=True,
)

CX93001 = Dialect(
    name="cx93001",
    ati={
        0: "56000",
        1: "OK",
        2: "OK",
        3: "CX93001-EIS_V0.2002-V92",
        4: "OK",
        5: "OK",
        6: "OK",
        7: "OK",
    },
    manufacturer="CONEXANT",
    model="CX93001-EIS_V0.2002-V92",
    revision="V0.2002",
    fclass_range="(0,1,1.0,8)",
    formats=(
        VoiceFormat(0, "SIGNED PCM", 8, "s8"),
        VoiceFormat(1, "UNSIGNED PCM", 8, "u8"),
        VoiceFormat(4, "G711U", 8, "ulaw"),
        VoiceFormat(5, "G711A", 8, "alaw"),
    ),
    default_format=1,
    has_vtr=True,
    cid_commands=("+VCID", "#CID"),
    cid_sep=" = ",
    cid_hex_tag="MESG = ",
    eos_triple=True,
    answer_result="OK",
    dial_result="OK",
    vls_range="0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15",
)

MT9234MU = Dialect(
    name="mt9234mu",
    ati={
        0: "MT9234MU",
        1: "OK",
        2: "OK",
        3: "MultiModem USB MT9234MU",
        4: "MultiTech Systems",
        5: "OK",
        9: "(MTS1100\\\\Modem\\MT9234MU\\MultiModem USB MT9234MU)",
    },
    manufacturer="Multi-Tech Systems",
    model="MT9234MU",
    revision="2.1.0",
    fclass_range="0,1,1.0,2,8",
    formats=_CONEXANT_SOFT,
    default_format=1,
    has_vtr=True,
    cid_commands=("+VCID",),
    cid_sep="=",
    cid_hex_tag="MESG=",
    eos_triple=False,
    answer_result="OK",
    dial_result="OK",
    vls_range="0,1,5,7",
)

DIALECTS: dict[str, Dialect] = {d.name: d for d in (USR5637, CX93001, MT9234MU)}
# Names people use for the same chipsets.
ALIASES = {"zoom3095": "cx93001", "usb56k": "cx93001", "usr": "usr5637", "multitech": "mt9234mu"}


def dialect(name: str) -> Dialect:
    key = ALIASES.get(name.lower(), name.lower())
    try:
        return DIALECTS[key]
    except KeyError:
        raise UsageError(f"unknown modem dialect {name!r} (known: {', '.join(sorted(DIALECTS))})") from None
