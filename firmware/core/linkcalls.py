"""The adapter between the box core's call vocabulary and the wire's call messages (``wire/calls.py``).

``incoming``: a cloud request or push → a core event (None: not a call message). ``reply_event``: the
reply to a request the core made → a core event. ``outgoing``: a core CallSignal → (how to send it —
"request" | "push" | "reply" — and the wire message).
"""

from __future__ import annotations

from typing import Any

from roamline.firmware.core import events as ev
from roamline.wire import calls as wc
from roamline.wire import messages
from roamline.wire import voicemail as wvm
from roamline.wire.errors import ErrorCode
from roamline.wire.messages import Envelope, Message


def _caller(c: wc.CallerId) -> ev.CallerInfo:
    return ev.CallerInfo(c.number, c.name, str(c.absent) if c.absent is not None else None)


def incoming(env: Envelope) -> ev.Input | None:
    m, key = env.message, env.id or ""
    if isinstance(m, wc.CallOffer):
        return ev.Offered(key=key, call_id=m.call_id, card_id=m.card_id, number=m.number,
                          caller=_caller(m.caller), cadence=m.cadence, flow_id=m.flow_id,
                          emergency_callback=m.emergency_callback)
    if isinstance(m, wc.CallCancel):
        return ev.Cancelled(key=key, call_id=m.call_id, reason=str(m.reason))
    if isinstance(m, wc.CallHangup):
        return ev.RemoteHangup(key=key, call_id=m.call_id, reason=str(m.reason))
    if isinstance(m, wc.LineAnswer):
        return ev.LineCommand(key=key, op="answer", call_id=m.call_id, flow_id=m.flow_id)
    if isinstance(m, wc.LineDial):
        return ev.LineCommand(key=key, op="dial", call_id=m.call_id, number=m.number, flow_id=m.flow_id,
                              grant=m.grant)
    if isinstance(m, wc.LineHangup):
        return ev.LineCommand(key=key, op="hangup", call_id=m.call_id)
    if isinstance(m, wc.LineFallback):
        return ev.AttendantFallback(call_id=m.call_id, outcome=str(m.outcome), account=m.account)
    if isinstance(m, wvm.VoicemailTake):
        return ev.TakeVoicemail(key=key, call_id=m.call_id, message_id=m.message_id, number=m.number,
                                greeting=m.greeting, max_s=m.max_s, silence_s=m.silence_s)
    if isinstance(m, wc.CallProgress):
        reason = str(m.refused) if m.refused is not None else (str(m.reason) if m.reason is not None else "")
        return ev.Progress(call_id=m.call_id, state=str(m.state), reason=reason)
    return None


def reply_event(key: str, reply: Message) -> ev.Input:
    if isinstance(reply, wc.CallPlaced):
        state = "own-line" if reply.route is wc.Route.OWN_LINE else "placed"
        return ev.Progress(reply.call_id, state, flow_id=reply.flow_id)
    if isinstance(reply, wc.CallRefused):
        return ev.Progress(reply.call_id, "refused", reason=str(reply.reason))
    if isinstance(reply, wc.CallAnswered):
        state = {wc.AnswerResult.CONNECTED: "answered",
                 wc.AnswerResult.ANSWERED_ELSEWHERE: "answered-elsewhere",
                 wc.AnswerResult.GONE: "gone"}[reply.result]
        return ev.Progress(reply.call_id, state, flow_id=reply.flow_id)
    return ev.Reply(key, reply)


def outgoing(a: ev.CallSignal) -> tuple[str, Message]:
    f: dict[str, Any] = a.fields
    k, cid = a.kind, a.call_id
    if k == "line.ring":
        c: ev.CallerInfo = f.get("caller") or ev.CallerInfo()
        absent = wc.CallerIdAbsence(c.absent) if c.absent in ("private", "unavailable") else None
        number = c.number if c.number and all(ch in "0123456789*#+" for ch in c.number) else None
        return "request", wc.LineRing(call_id=cid, line=f["line"], rings=f["rings"],
                                      caller=wc.CallerId(number=number, name=c.name, absent=absent))
    if k == "line.state":
        return "push", wc.LineStateReport(call_id=cid, state=wc.LineState(f["state"]),
                                          inferred=bool(f.get("inferred", False)),
                                          detail=str(f.get("detail", "")))
    if k == "line.result":
        return "reply", wc.LineResultReply(call_id=cid, result=wc.LineResult(f["result"]),
                                           detail=str(f.get("detail", ""))[:200])
    if k == "line.choice":
        return "push", wc.LineChoice(call_id=cid, key=str(f.get("key", "")))
    if k == "call.place":
        return "request", wc.CallPlace(call_id=cid, card_id=f["card_id"], number=f["number"])
    if k == "call.emergency":
        return "request", wc.CallEmergency(call_id=cid, number=f["number"], card_id=f.get("card_id") or "",
                                           line=f.get("line") or "", location=f.get("location"))
    if k == "call.answer":
        return "request", wc.CallAnswer(call_id=cid, card_id=f["card_id"])
    if k == "call.reject":
        return "request", wc.CallReject(call_id=cid, reason=wc.DeclineReason(f.get("reason", "declined")))
    if k == "call.hangup":
        return "request", wc.CallHangup(call_id=cid, reason=wc.EndReason(f.get("reason", "hangup")))
    if k == "call.dtmf":
        return "push", wc.CallDtmf(call_id=cid, digits=f["digits"])
    if k == "offer.ringing":
        return "reply", wc.CallRinging(call_id=cid)
    if k == "offer.declined":
        return "reply", wc.CallDeclined(call_id=cid, reason=wc.DeclineReason(f["reason"]))
    if k == "ack":
        return "reply", messages.Ok()
    if k == "refuse":
        return "reply", messages.Error(code=ErrorCode.FORBIDDEN, message=str(f.get("detail", ""))[:200])
    raise ValueError(f"no wire form for call signal {k!r}")
