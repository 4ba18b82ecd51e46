"""The DTE command state of the modem simulator: command-line editing (echo, backspace, ``A/``) and the basic
AT commands (E V Q Z H I Sn A D +G* +FCLASS, caller-ID enable). +V commands go to voicecmds, ATD to dialing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from roamline.hil.exchange import dialing, voicecmds
from roamline.hil.exchange.atparse import AtSyntaxError, Cmd, parse

if TYPE_CHECKING:
    from roamline.hil.exchange.modem import ModemSim

MAX_LINE = 256



def command_byte(m: ModemSim, b: int, now: float) -> None:
    cr, bs = m.sreg[3], m.sreg[5]
    if m.echo:
        m._write(bytes([b]))
    if b == bs:
        if m._line:
            m._line.pop()
        return
    if b == cr:
        line = m._line.decode("latin-1")
        m._line.clear()
        command_line(m, line, now)
        return
    if b == 0x0A or b == 0:
        return
    if b == ord("/") and m._line[-1:].upper() == b"A" and len(m._line.strip()) >= 1:
        # "A/" repeats the last command line at once
        m._line.clear()
        if m.echo:
            m._write(b"\r")
        command_line(m, m.last_command, now)
        return
    if len(m._line) >= MAX_LINE:
        m._line.clear()
        m._result("ERROR")
        return
    m._line.append(b)


def command_line(m: ModemSim, line: str, now: float) -> None:
    at = line.upper().rfind("AT")  # line noise before the prefix is ignored
    if at < 0:
        return
    body = line[at + 2 :]
    m.last_command = "AT" + body
    try:
        cmds = parse(body)
    except AtSyntaxError:
        m._result("ERROR")
        return
    for cmd in cmds:
        try:
            outcome = execute(m, cmd, now)
        except (ValueError, KeyError, IndexError, TypeError):
            outcome = "ERROR"
        if outcome == "ERROR":
            m._result("ERROR")
            return
        if outcome == "DEFER":  # the command answers later (dial, stream, tones)
            return
    m._result("OK")


def execute(m: ModemSim, c: Cmd, now: float) -> str:
    n = c.name
    v = int(c.arg) if c.arg.isdigit() else 0
    if n == "E":
        m.echo = v == 1
    elif n == "V":
        m.verbose = v == 1
    elif n == "Q":
        m.quiet = v == 1
    elif n in ("L", "M", "X", "&C", "&D", "&K", "&W", "&S", "B", "N", "W", "Y", "&B", "&G", "&Y"):
        pass
    elif n in ("Z", "&F"):
        m.hangup()
        m._reset_settings()
        m.echo, m.verbose, m.quiet = True, True, False
    elif n == "H":
        m.hangup()
    elif n == "I":
        text = m.d.ati.get(v)
        if text is None:
            return "ERROR"
        if text != "OK":
            m.info(text)
    elif n == "O":
        return "ERROR"
    elif n.startswith("S") and n[1:].isdigit():
        reg = int(n[1:])
        if c.op == "?":
            m.info(f"{m.sreg.get(reg, 0):03d}")
        elif c.op == "=":
            if not 0 <= int(c.arg) <= 255:
                return "ERROR"
            m.sreg[reg] = int(c.arg)
    elif n == "A":
        return m.answer(now)
    elif n == "D":
        return dialing.dial(m, c.arg, now)
    elif n in ("+GMI", "+FMI"):
        m.info(m.d.manufacturer)
    elif n in ("+GMM", "+FMM"):
        m.info(m.d.model)
    elif n in ("+GMR", "+FMR"):
        m.info(m.d.revision)
    elif n == "+GCAP":
        m.info("+GCAP: +FCLASS,+MS,+ES,+DS,+V")
    elif n == "+FCLASS":
        return _fclass(m, c)
    elif n in m.d.cid_commands:
        return _param(m, c, "vcid", (0, 1, 2), "0-2" if n == "+VCID" else "0,1,2")
    elif n == "+VCID" or n == "#CID":
        return "ERROR"
    elif n.startswith("+V"):
        return voicecmds.execute(m, c, now)
    else:
        return "ERROR"
    return "OK"


def _param(m: ModemSim, c: Cmd, attr: str, allowed: tuple[int, ...], rng: str) -> str:
    if c.op == "?":
        m.info(str(getattr(m, attr)))
    elif c.op == "=?":
        m.info(f"({rng})")
    elif c.op == "=":
        val = int(c.arg)
        if val not in allowed:
            return "ERROR"
        setattr(m, attr, val)
    else:
        return "ERROR"
    return "OK"


def _fclass(m: ModemSim, c: Cmd) -> str:
    if c.op == "?":
        m.info(str(m.fclass))
    elif c.op == "=?":
        m.info(m.d.fclass_range)
    elif c.op == "=":
        if c.arg not in ("0", "1", "1.0", "2", "8") or c.arg not in m.d.fclass_range:
            return "ERROR"
        new = 8 if c.arg == "8" else 0
        if new != 8 and m.off_hook:
            m.hangup()
        m.fclass = new
    else:
        return "ERROR"
    return "OK"
