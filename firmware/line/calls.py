"""The call state machine as an explicit transition table; anything not in the table raises."""

from __future__ import annotations

from enum import Enum, StrEnum

from roamline.firmware.line.errors import IllegalTransition


class CallState(StrEnum):
    """A call's state; the values are the names logs and events carry (a StrEnum: equal to them)."""

    IDLE = "idle"
    RINGING = "ringing"  # incoming call ringing, not answered
    ANSWERING = "answering"
    DIALING = "dialing"
    ALERTING = "alerting"  # outgoing call dialled, far end not (yet) known to have answered
    CONNECTED = "connected"
    HANGING_UP = "hanging-up"
    OUT_OF_SERVICE = "out-of-service"  # modem silent, resetting, or unplugged


class Trigger(Enum):
    RING = "ring"
    RINGS_STOPPED = "rings-stopped"  # the caller gave up before we answered
    ANSWER = "answer"
    ANSWERED = "answered"
    DIAL = "dial"
    DIALLED = "dialled"
    ANSWER_INFERRED = "answer-inferred"
    FAILED = "failed"  # a command of the call failed (BUSY, NO DIALTONE, ERROR, ...)
    FAR_END_HANGUP = "far-end-hangup"
    HANGUP = "hangup"
    ON_HOOK = "on-hook"
    MODEM_LOST = "modem-lost"
    RECOVERED = "recovered"


S, T = CallState, Trigger
TABLE: dict[tuple[CallState, Trigger], CallState] = {
    (S.IDLE, T.RING): S.RINGING,
    (S.IDLE, T.DIAL): S.DIALING,
    (S.RINGING, T.RING): S.RINGING,
    (S.RINGING, T.RINGS_STOPPED): S.IDLE,
    (S.RINGING, T.ANSWER): S.ANSWERING,
    (S.RINGING, T.HANGUP): S.HANGING_UP,
    (S.ANSWERING, T.ANSWERED): S.CONNECTED,
    (S.ANSWERING, T.FAILED): S.HANGING_UP,
    (S.ANSWERING, T.FAR_END_HANGUP): S.HANGING_UP,
    (S.ANSWERING, T.HANGUP): S.HANGING_UP,
    (S.DIALING, T.DIALLED): S.ALERTING,
    (S.DIALING, T.FAILED): S.HANGING_UP,
    (S.DIALING, T.HANGUP): S.HANGING_UP,
    (S.ALERTING, T.ANSWER_INFERRED): S.CONNECTED,
    (S.ALERTING, T.FAR_END_HANGUP): S.HANGING_UP,
    (S.ALERTING, T.FAILED): S.HANGING_UP,
    (S.ALERTING, T.HANGUP): S.HANGING_UP,
    (S.CONNECTED, T.FAR_END_HANGUP): S.HANGING_UP,
    (S.CONNECTED, T.HANGUP): S.HANGING_UP,
    (S.CONNECTED, T.FAILED): S.HANGING_UP,  # an inferred answer turned out to be busy tone
    (S.HANGING_UP, T.ON_HOOK): S.IDLE,
    (S.HANGING_UP, T.FAILED): S.IDLE,  # on-hook failed: the modem is reset by recovery anyway
    (S.OUT_OF_SERVICE, T.RECOVERED): S.IDLE,
}
# Losing the modem is possible from every state.
TABLE.update({(s, T.MODEM_LOST): S.OUT_OF_SERVICE for s in S})

IN_CALL = frozenset({S.ANSWERING, S.DIALING, S.ALERTING, S.CONNECTED})


class CallStateMachine:
    def __init__(self) -> None:
        self.state = CallState.IDLE

    def can(self, trigger: Trigger) -> bool:
        return (self.state, trigger) in TABLE

    def fire(self, trigger: Trigger) -> CallState:
        try:
            self.state = TABLE[(self.state, trigger)]
        except KeyError:
            raise IllegalTransition(f"{trigger.value} is not allowed while {self.state.value}") from None
        return self.state
