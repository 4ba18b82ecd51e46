"""The holder's mailbox at the handset (``*98``): the session's state, sans-I/O.

The box core opens a :class:`Mailbox` when the chosen holder dials ``*98``: it lists their messages at the
registry (``voicemail.list``); when the holder set a PIN the registry answers ``pin_required`` and the
session asks for it ("enter your PIN, then press the pound key"), collects up to 8 keys (``#`` or the
inter-digit timeout ends them; no key at all within the first-digit time ends the session), has the
registry check them (``voicemail.pin``: only the registry holds the hash) and lists again once right;
three wrong tries, or the registry's lock, end it. The core dials an emergency number keyed during the
PIN at once (it sees every key first). Then the session fetches each message piece by piece
(``voicemail.fetch``, ≤ 32 000 bytes each), plays it, then the menu; 7 deletes, 9 saves, # skips to the
next (``voicemail.mark`` for the first two). Keys pressed while a message plays act at once. The core owns
the handset; this object only says what to ask and play next.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from roamline.firmware.core import events as ev
from roamline.wire import voicemail as wvm

KEYS = {"7": wvm.MarkAction.DELETE, "9": wvm.MarkAction.SAVE}
PIN_TRIES = 3  # wrong PINs in one *98 session before it ends
PIN_STATES = ("pin", "checking")  # keys go to the PIN (the core checks each for an emergency number first)
SKIP = "#"
GREETING = "*"  # record a new greeting (# ends it)


@dataclass(slots=True)
class Mailbox:
    card_id: str
    first_digit_s: float = 15.0  # the PIN's first key
    interdigit_s: float = 4.0  # between the PIN's keys: then what was keyed is the PIN
    # listing | pin | checking | fetching | menu | marking | done | greeting | sending | failed
    state: str = "listing"
    messages: list[wvm.ListedMessage] = field(default_factory=list)
    index: int = 0
    audio: bytearray = field(default_factory=bytearray)
    said: str = ""  # the prompt to play before the next message (what the last key did)
    n: int = 0
    greeting_id: str = ""  # being recorded or sent
    resume: str = ""  # the state to go back to after a greeting
    unacked: int = 0  # greeting pieces sent and not yet acknowledged
    pin_keys: str = ""  # keyed since the PIN prompt (also while it is checked: for the emergency check)
    pin_tries: int = 0
    pin_until: float | None = None  # the PIN's keys run out of time
    failure: str = ""  # state "failed": the prompt that says why (the core ends the session)

    def key(self, what: str) -> str:
        self.n += 1
        return f"vm:{what}:{self.n}"

    @property
    def current(self) -> wvm.ListedMessage | None:
        return self.messages[self.index] if 0 <= self.index < len(self.messages) else None

    def open(self) -> list[ev.Action]:
        return [ev.Request(self.key("list"), wvm.VoicemailList(card_id=self.card_id))]

    def listed(self, msg: wvm.VoicemailListed, now: float = 0.0) -> list[ev.Action]:
        if msg.pin_required:
            return self._ask_pin(now, "vm-pin")
        self.messages = list(msg.messages)
        self.index = 0
        return self._fetch_current()

    # ---- the PIN ---------------------------------------------------------------------------------------
    def deadline(self) -> float | None:
        return self.pin_until if self.state == "pin" else None

    def _ask_pin(self, now: float, prompt: str) -> list[ev.Action]:
        self.state, self.pin_keys, self.pin_until = "pin", "", now + self.first_digit_s
        return [ev.PlayPrompt(prompt)]

    def pin_key(self, digit: str, now: float) -> list[ev.Action]:
        """A key while the PIN is asked for (or checked: kept only for the core's emergency check)."""
        if self.state not in PIN_STATES:
            return []
        if self.state == "checking":
            self.pin_keys = (self.pin_keys + digit)[-8:]
            return []
        if digit == SKIP:
            return self._submit(now)
        self.pin_keys += digit
        if len(self.pin_keys) >= 8:
            return self._submit(now)
        self.pin_until = now + self.interdigit_s
        return []

    def poll(self, now: float) -> list[ev.Action]:
        if self.state != "pin" or self.pin_until is None or now < self.pin_until:
            return []
        if not self.pin_keys:  # nobody keyed anything: the session ends
            self.state, self.failure, self.pin_until = "failed", "vm-pin-none", None
            return [ev.Emit("voicemail.pin", {"result": "none"})]
        return self._submit(now)

    def _submit(self, now: float) -> list[ev.Action]:
        pin, self.pin_keys, self.pin_until = self.pin_keys, "", None
        if not (4 <= len(pin) <= 8) or not pin.isdigit():  # * in it, or too short: wrong, not asked
            return [ev.Emit("voicemail.pin", {"result": "wrong", "asked": False}), *self._wrong(now)]
        self.state = "checking"
        return [ev.Request(self.key("pin"), wvm.VoicemailPin(card_id=self.card_id, pin=pin))]

    def _wrong(self, now: float) -> list[ev.Action]:
        self.pin_tries += 1
        if self.pin_tries >= PIN_TRIES:
            self.state, self.failure = "failed", "vm-pin-failed"
            return []
        return self._ask_pin(now, "vm-pin-wrong")

    def pin_checked(self, msg: wvm.VoicemailPinChecked, now: float) -> list[ev.Action]:
        if self.state != "checking" or msg.card_id != self.card_id:
            return []
        out: list[ev.Action] = [ev.Emit("voicemail.pin", {"result": msg.result.value,
                                                          "tries": self.pin_tries + 1})]
        if msg.result is wvm.PinResult.OK:
            self.state, self.pin_keys = "listing", ""
            return out + self.open()
        if msg.result is wvm.PinResult.LOCKED:
            self.state, self.failure = "failed", "vm-pin-locked"
            return out
        return out + self._wrong(now)

    def _fetch_current(self) -> list[ev.Action]:
        m = self.current
        if m is None:
            self.state = "done"
            return []
        self.state, self.audio = "fetching", bytearray()
        return [ev.Request(self.key("fetch"), wvm.VoicemailFetch(card_id=self.card_id,
                                                                 message_id=m.message_id, seq=0))]

    def piece(self, msg: wvm.VoicemailAudio) -> list[ev.Action]:
        m = self.current
        if self.state != "fetching" or m is None or msg.message_id != m.message_id:
            return []
        self.audio += msg.audio
        if not msg.last:
            return [ev.Request(self.key("fetch"), wvm.VoicemailFetch(card_id=self.card_id,
                                                                     message_id=m.message_id,
                                                                     seq=msg.seq + 1))]
        self.state = "menu"
        before, self.said = self.said, ""
        return [ev.PlayMessage(bytes(self.audio), "vm-menu", before),
                ev.Emit("voicemail.playing", {"message_id": m.message_id, "bytes": len(self.audio),
                                              "state": m.state})]

    def pressed(self, digit: str, new_greeting_id: str = "") -> list[ev.Action]:
        """A key during a message, its menu, or after the last one (``new_greeting_id``: the id a
        greeting recorded now would get)."""
        if self.state == "greeting":
            if digit != SKIP:
                return []
            self.state = "sending"
            return [ev.StopGreeting(self.greeting_id)]
        if digit == GREETING and self.state in ("fetching", "menu", "done") and new_greeting_id:
            self.resume = "menu" if self.state in ("fetching", "menu") else "done"
            self.state, self.greeting_id = "greeting", new_greeting_id
            return [ev.RecordGreeting(new_greeting_id), ev.Emit("voicemail.greeting-recording", {})]
        m = self.current
        if m is None or self.state not in ("fetching", "menu"):
            return []
        if digit in KEYS:
            self.state = "marking"
            action = KEYS[digit]
            self.said = "vm-deleted" if action is wvm.MarkAction.DELETE else "vm-saved"
            return [ev.Request(self.key("mark"), wvm.VoicemailMark(card_id=self.card_id,
                                                                   message_id=m.message_id, action=action)),
                    ev.Emit("voicemail.marked", {"message_id": m.message_id, "action": action.value})]
        if digit == SKIP:
            return self.next()
        return []

    def marked(self) -> list[ev.Action]:
        if self.state == "sending" and self.unacked > 0:
            self.unacked -= 1
            if self.unacked == 0:
                self.state = self.resume
                return [ev.PlayMessage(b"", "vm-menu" if self.state == "menu" else "vm-end",
                                       "vm-greeting-saved"),
                        ev.Emit("voicemail.greeting-saved", {"greeting_id": self.greeting_id})]
            return []
        return self.next() if self.state == "marking" else []

    def greeting(self, greeting_id: str, audio: bytes) -> list[ev.Action]:
        """The recorded greeting: sent in pieces (the registry puts them together in any order)."""
        if self.state != "sending" or greeting_id != self.greeting_id:
            return []
        audio = audio[: int(wvm.MAX_GREETING_S * wvm.RATE)]
        if not audio:
            self.state = self.resume
            return [ev.PlayMessage(b"", "vm-menu" if self.state == "menu" else "vm-end")]
        size = wvm.MAX_CHUNK_AUDIO
        parts = [audio[i:i + size] for i in range(0, len(audio), size)]
        self.unacked = len(parts)
        return [ev.Request(self.key("greeting"), wvm.VoicemailGreeting(
            card_id=self.card_id, greeting_id=greeting_id, seq=i, last=i == len(parts) - 1, audio=p))
            for i, p in enumerate(parts)]

    def next(self) -> list[ev.Action]:
        self.index += 1
        out = self._fetch_current()
        if self.state == "done":
            before, self.said = self.said, ""
            return [ev.PlayMessage(b"", "vm-end", before)]
        return out


__all__ = ["Mailbox"]
