"""`roamline box diag modem` against modems whose habits are not our simulator's: command echo on or off,
result-code spacing, numeric results, caller ID before, between or after the rings (or never),
formatted with or without spaces and unformatted (bare hex or tagged MESG) in MDMF and SDMF."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from roamline.cli.main import main
from roamline.firmware.callerid import codec
from roamline.hil.line_peer import PtyPeer, ScriptedModem

CX = {"ATI3": "CX93001-EIS_V0.2002-V92", "AT+FCLASS=?": "0,1,1.0,8"}
CRLF = (b"\r\n", b"\r\n")
NUMBER, NAME, STAMP = "5551234", "RING DATE", "03211405"


def _formatted(sep: str, order: tuple[str, ...] = ("DATE", "TIME", "NMBR", "NAME")) -> list[bytes]:
    values = {"DATE": STAMP[:4], "TIME": STAMP[4:], "NMBR": NUMBER, "NAME": NAME}
    return [f"{k}{sep}{values[k]}".encode() for k in order]


def _unformatted(kind: str, tag: str) -> list[bytes]:
    when = codec.Stamp.decode(STAMP.encode())
    if kind == "mdmf":
        raw = codec.encode(codec.CallerId(NUMBER, NAME, when), codec.Format.MDMF)
    else:
        raw = codec.encode(codec.CallerId(NUMBER, when=when), codec.Format.SDMF)
    return [tag.encode() + raw.hex().upper().encode()]


def _script(frame: tuple[bytes, bytes], position: str, cid: list[bytes]) -> bytes:
    ring = [b"RING"]
    lines = {"before": cid + ring + ring, "between": ring + cid + ring, "after": ring + ring + cid,
             "none": ring * 4}[position]
    return b"".join(frame[0] + line + frame[1] for line in lines)


CASES = [
    # id, echo, frame, position, caller-ID lines, --unformatted, expected name
    ("echo-crlf-before-spaced", True, CRLF, "before", _formatted(" = "), False, NAME),
    ("noecho-bare-between-tight", False, (b"", b"\r\n"), "between", _formatted("="), False, NAME),
    ("echo-cr-only-after", True, (b"", b"\r"), "after", _formatted(" = ", ("NAME", "NMBR", "TIME", "DATE")),
     False, NAME),
    ("noecho-lf-cr-between-mdmf-bare", False, (b"\n", b"\r"), "between", _unformatted("mdmf", ""), True,
     NAME),
    ("echo-doublecrlf-before-sdmf-tagged", True, (b"\r\n\r\n", b"\r\n"), "before",
     _unformatted("sdmf", "MESG = "), True, None),
    ("noecho-crlf-after-mdmf-tight-tag", False, CRLF, "after", _unformatted("mdmf", "MESG="), True, NAME),
    ("echo-crlf-no-caller-id", True, CRLF, "none", [], False, None),
]


@pytest.mark.parametrize(("echo", "frame", "position", "cid", "unformatted", "name"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_diag_on_modems_with_other_habits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], echo: bool, frame: tuple[bytes, bytes],
    position: str, cid: list[bytes], unformatted: bool, name: str | None,
) -> None:
    # the call arrives as soon as the diagnostic has initialised the modem (its last init command)
    modem = ScriptedModem(CX, echo=echo, frame=frame, after={"AT+VIT=0": _script(frame, position, cid)})
    peer = PtyPeer(modem, tmp_path / "ttyACM0").start()
    try:
        argv = ["box", "diag", "modem", "--device", str(tmp_path / "ttyACM0"), "--wait-ring", "20", "--json"]
        rc = main(argv + (["--unformatted"] if unformatted else []))
    finally:
        peer.stop()
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0 and out["profile"] == "cx93001" and out["voice"] is True
    assert ("AT+VCID=2" if unformatted else "AT+VCID=1") in modem.commands
    if position == "none":
        assert out["caller_id"] is None and out["rings"] == 4
        return
    assert out["caller_id"] == {"number": NUMBER, "name": name, "date": STAMP[:4], "time": STAMP[4:]}
    assert out["rings"] == 2
