"""Dialing in the modem simulator: the ATD dial string (digits, pauses, hook flashes) and the outcome
heard on the line (NO DIALTONE, BUSY, NO ANSWER, NO CARRIER, or the dialect's voice-mode result)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from roamline.hil.exchange.linerequests import Dial, Flash

if TYPE_CHECKING:
    from roamline.hil.exchange.modem import ModemSim



def dial(m: ModemSim, dialstring: str, now: float) -> str:
    digits, delay, flashes = "", 0.0, 0
    for ch in dialstring.upper():
        if ch in "0123456789*#ABCD":
            digits += ch
            delay += (m.sreg[11] / 1000.0) * 2
        elif ch == ",":
            delay += m.sreg[8]
        elif ch == "!":
            delay += 0.5
            flashes += 1
        elif ch in "TPW@;R -()L":
            continue
        else:
            return "ERROR"
    if m.off_hook and flashes and not digits:
        # already on the line (in a call): flash the hook, e.g. to take a waiting call; OK when done
        m._requests += [Flash()] * flashes
        m.mode = "tones"
        m._deferred = (now + delay, "OK")
        return "DEFER"
    m._go_off_hook()
    m.mode = "dialing"
    m._dial_digits = digits
    m._dial_started = now
    m._dial_done_at = now + 0.5 + delay  # listens for dial tone first
    m._dial_sent = False
    m._ringback_seen = False
    return "DEFER"


def dial_tick(m: ModemSim, now: float) -> None:
    if not m._dial_sent:
        if m._tone is None and now - m._dial_started >= min(m.sreg[6], 2):
            m.hangup()
            m._finish("NO DIALTONE")
        elif now >= m._dial_done_at and m._tone == "dial":
            m._dial_sent = True
            m._requests.append(Dial(m._dial_digits))
            m._dial_done_at = now
            if m.d.dial_immediate and m.fclass == 8:
                m._finish(m.d.dial_result)
        return
    since = now - m._dial_done_at
    if m._tone in ("busy", "reorder") and now - m._tone_since >= 1.0:
        m.hangup()
        m._finish("BUSY")
    elif m._tone == "ringback":
        if since >= m.sreg[7]:
            m.hangup()
            m._finish("NO ANSWER")
    elif m.fclass != 8:
        if since >= 1.0:
            m.hangup()
            m._finish("NO CARRIER")
    elif m._ringback_seen:
        if now - m._ringback_end >= m.vra / 10.0:
            m._finish(m.d.dial_result)
    elif since >= m.vrn:
        m._finish(m.d.dial_result)
