"""The handset's call control as an explicit transition table; anything not in the table raises.

One handset, so one table: what the person holding the receiver hears and can do. The box core fires
the triggers; the state says what the handset does (ring, tone, prompt, voice).
"""

from __future__ import annotations

from enum import Enum

from roamline.firmware.errors import UsageError


class IllegalTransition(UsageError):
    """A trigger that the call table does not allow in the current state (a bug in the caller)."""


class Phone(Enum):
    IDLE = "idle"  # on hook, nothing happening
    RINGING = "ringing"  # on hook, an offered call rings
    ANSWERING = "answering"  # lifted for an offer; waiting for the cloud to say we won
    CHOOSING = "choosing"  # lifted with several cards in: "who is calling?" (one key)
    DIAL_TONE = "dial-tone"  # lifted, no digit yet
    COLLECTING = "collecting"  # digits coming in
    ROUTING = "routing"  # decided: placing the call (cloud) or dialling (own line)
    ALERTING = "alerting"  # the far end rings (ringback)
    CONNECTED = "connected"  # in a call (with perhaps a second call waiting)
    FAILED = "failed"  # busy / reorder / far end gone: a tone until on-hook (or new digits)


class Trig(Enum):
    OFFER = "offer"
    CANCEL_ONE = "cancel-one"  # one of several offers withdrawn
    CANCEL_LAST = "cancel-last"  # the last offer withdrawn
    LIFT = "lift"
    LIFT_CHOOSE = "lift-choose"
    LIFT_ANSWER = "lift-answer"
    CHOSEN = "chosen"
    DIGIT = "digit"
    ROUTE = "route"
    RINGBACK = "ringback"
    ANSWERED = "answered"
    FAIL = "fail"
    FAR_END = "far-end"
    FLASH = "flash"
    REROUTE = "reroute"  # an emergency call whose line's modem went away: placed again another way
    HANG_UP = "hang-up"


P, T = Phone, Trig
TABLE: dict[tuple[Phone, Trig], Phone] = {
    (P.IDLE, T.OFFER): P.RINGING,
    (P.IDLE, T.LIFT): P.DIAL_TONE,
    (P.IDLE, T.LIFT_CHOOSE): P.CHOOSING,
    (P.RINGING, T.OFFER): P.RINGING,
    (P.RINGING, T.CANCEL_ONE): P.RINGING,
    (P.RINGING, T.CANCEL_LAST): P.IDLE,
    (P.RINGING, T.LIFT_ANSWER): P.ANSWERING,
    (P.ANSWERING, T.ANSWERED): P.CONNECTED,
    (P.ANSWERING, T.FAIL): P.FAILED,
    (P.ANSWERING, T.OFFER): P.ANSWERING,
    (P.CHOOSING, T.CHOSEN): P.DIAL_TONE,
    (P.CHOOSING, T.DIGIT): P.COLLECTING,  # not a choice key: dialling without a holder (emergency …)
    (P.CHOOSING, T.FAIL): P.FAILED,
    (P.DIAL_TONE, T.DIGIT): P.COLLECTING,
    (P.DIAL_TONE, T.FAIL): P.FAILED,  # no digit in time
    (P.COLLECTING, T.DIGIT): P.COLLECTING,
    (P.COLLECTING, T.ROUTE): P.ROUTING,
    (P.COLLECTING, T.FAIL): P.FAILED,
    (P.ROUTING, T.RINGBACK): P.ALERTING,
    (P.ROUTING, T.ANSWERED): P.CONNECTED,
    (P.ROUTING, T.FAIL): P.FAILED,
    (P.ROUTING, T.DIGIT): P.ROUTING,
    (P.ALERTING, T.RINGBACK): P.ALERTING,
    (P.ALERTING, T.ANSWERED): P.CONNECTED,
    (P.ALERTING, T.FAIL): P.FAILED,
    (P.ALERTING, T.FAR_END): P.FAILED,
    (P.ALERTING, T.DIGIT): P.ALERTING,
    (P.CONNECTED, T.DIGIT): P.CONNECTED,  # DTMF to the far end
    (P.CONNECTED, T.OFFER): P.CONNECTED,  # call waiting
    (P.CONNECTED, T.FLASH): P.CONNECTED,  # switch to the waiting call
    (P.CONNECTED, T.FAR_END): P.FAILED,
    (P.CONNECTED, T.ANSWERED): P.CONNECTED,  # the waiting call taken
    (P.FAILED, T.DIGIT): P.COLLECTING,  # a fresh number without hanging up (911 always dials)
    (P.FAILED, T.OFFER): P.FAILED,
    (P.FAILED, T.FAR_END): P.FAILED,
    (P.FAILED, T.FAIL): P.FAILED,
    (P.ROUTING, T.REROUTE): P.ROUTING,
    (P.ALERTING, T.REROUTE): P.ROUTING,
    (P.CONNECTED, T.REROUTE): P.ROUTING,
}
for _s in (P.ANSWERING, P.CHOOSING, P.DIAL_TONE, P.COLLECTING, P.ROUTING, P.ALERTING, P.CONNECTED, P.FAILED):
    TABLE[(_s, T.HANG_UP)] = P.IDLE

OFF_HOOK = frozenset(set(P) - {P.IDLE, P.RINGING})


class PhoneTable:
    def __init__(self) -> None:
        self.state = Phone.IDLE

    def can(self, trigger: Trig) -> bool:
        return (self.state, trigger) in TABLE

    def fire(self, trigger: Trig) -> Phone:
        try:
            self.state = TABLE[(self.state, trigger)]
        except KeyError:
            raise IllegalTransition(f"{trigger.value} is not allowed while {self.state.value}") from None
        return self.state
