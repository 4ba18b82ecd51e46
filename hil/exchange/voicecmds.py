"""The V.253 voice commands (+VSM, +VLS, +VRX/+VTX/+VTR, +VTS, timers) of the modem simulator."""

from __future__ import annotations

from typing import TYPE_CHECKING

from roamline.hil.exchange import audio
from roamline.hil.exchange.atparse import Cmd, split_args

if TYPE_CHECKING:
    from roamline.hil.exchange.modem import ModemSim


def execute(m: ModemSim, c: Cmd, now: float) -> str:
    """One +V command in voice mode: the result word, or DEFER when it answers later."""
    if m.fclass != 8:
        return "ERROR"
    n, op = c.name, c.op
    if n == "+VSM":
        if op == "=?":
            lines = [f'{f.code},"{f.label}",{f.bits},0,(8000),(0),(0)' for f in m.d.formats]
            m.info("\r\n".join(lines))
        elif op == "?":
            m.info(f"{m.vsm},8000,0,0")
        elif op == "=":
            args = split_args(c.arg)
            fmt = m.d.format_by_code(int(args[0]))
            if fmt is None or (len(args) > 1 and args[1] and int(args[1]) != 8000):
                return "ERROR"
            m.vsm = fmt.code
        else:
            return "ERROR"
    elif n == "+VLS":
        if op == "=?":
            m.info(m.d.vls_range)
        elif op == "?":
            m.info(str(m.vls))
        elif op == "=":
            val = int(c.arg or "0")
            if str(val) not in m.d.vls_range.split(","):
                return "ERROR"
            m.vls = val
            if val == 0:
                m.hangup()
            elif val == 1:
                return m.answer(now)
        else:
            return "ERROR"
    elif n in ("+VRX", "+VTX", "+VTR"):
        if op not in ("", "=?") or not m.off_hook or (n == "+VTR" and not m.d.has_vtr):
            return "ERROR"
        if op == "=?":
            return "OK"
        m.start_stream({"+VRX": "rx", "+VTX": "tx", "+VTR": "trx"}[n], now)
        return "DEFER"
    elif n == "+VTS":
        if op != "=" or not m.off_hook:
            return "ERROR" if op != "=?" else "OK"
        return _tones(m, c.arg, now)
    elif n in ("+VSD", "+VIT", "+VRA", "+VRN", "+VTD", "+VGR", "+VGT"):
        attr = n[1:].lower()  # +VSD -> vsd
        if op == "?":
            cur = getattr(m, attr)
            m.info(",".join(map(str, cur)) if isinstance(cur, tuple) else str(cur))
        elif op == "=?":
            m.info("(0-255),(0-255)" if n == "+VSD" else "(0-255)")
        elif op == "=":
            vals = [int(x) for x in split_args(c.arg)]
            if not vals or any(not 0 <= x <= 255 for x in vals):
                return "ERROR"
            setattr(m, attr, (vals[0], vals[1] if len(vals) > 1 else m.vsd[1]) if n == "+VSD"
                    else vals[0])
        else:
            return "ERROR"
    elif n in ("+VIP", "+VNH", "+VDR", "+VEM", "+VPR", "+VBT", "+VSS", "+VDT", "+VGM", "+VGS"):
        if op == "?":
            m.info("0")
    else:
        return "ERROR"
    return "OK"

def _tones(m: ModemSim, arg: str, now: float) -> str:
    total = 0.0
    for item in split_args(arg):
        dur = m.vtd / 100.0
        if item.startswith("[") and item.endswith("]"):
            parts = [p for p in split_args(item[1:-1])]
            f1 = int(parts[0] or 0)
            f2 = int(parts[1] or 0) if len(parts) > 1 else 0
            if len(parts) > 2 and parts[2]:
                dur = int(parts[2]) / 100.0
            m.tone_audio.append(audio.tone(tuple(f for f in (f1, f2) if f), dur))
        elif item.startswith("{") and item.endswith("}"):
            parts = split_args(item[1:-1])
            digit = parts[0].upper()
            if digit not in audio.DTMF_FREQS:
                return "ERROR"
            if len(parts) > 1 and parts[1]:
                dur = int(parts[1]) / 100.0
            m.digit_out(digit, dur)
        elif item.upper() in audio.DTMF_FREQS:
            m.digit_out(item.upper(), dur)
        else:
            return "ERROR"
        total += dur
    m.mode = "tones"
    m._deferred = (now + total, "OK")
    return "DEFER"
