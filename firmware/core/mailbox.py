"""The holder's mailbox at the handset (``*98``): the session's state, sans-I/O.

The box core opens a :class:`Mailbox` when the chosen holder dials ``*98``: it lists their messages at the
registry (``voicemail.list``), fetches each message piece by piece (``voicemail.fetch``, ≤ 32 000 bytes
each), plays it, then the menu; 7 deletes, 9 saves, # skips to the next (``voicemail.mark`` for the first
two). Keys pressed while a message plays act at once. The core owns the handset; this object only says what
to ask and play next.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from roamline.firmware.core import events as ev
from roamline.wire import voicemail as wvm

KEYS = {"7": wvm.MarkAction.DELETE, "9": wvm.MarkAction.SAVE}
SKIP = "#"
GREETING = "*"  # record a new greeting (# ends it)


@dataclass(slots=True)
class Mailbox:
    card_id: str
    state: str = "listing"  # listing | fetching | menu | marking | done
    messages: list[wvm.ListedMessage] = field(default_factory=list)
    index: int = 0
    audio: bytearray = field(default_factory=bytearray)
    said: str = ""  # the prompt to play before the next message (what the last key did)
    n: int = 0
    greeting_id: str = ""  # being recorded or sent
    resume: str = ""  # the state to go back to after a greeting
    unacked: int = 0  # greeting pieces sent and not yet acknowledged

    def key(self, what: str) -> str:
        self.n += 1
        return f"vm:{what}:{self.n}"

    @property
    def current(self) -> wvm.ListedMessage | None:
        return self.messages[self.index] if 0 <= self.index < len(self.messages) else None

    def open(self) -> list[ev.Action]:
        return [ev.Request(self.key("list"), wvm.VoicemailList(card_id=self.card_id))]

    def listed(self, msg: wvm.VoicemailListed) -> list[ev.Action]:
        self.messages = list(msg.messages)
        self.index = 0
        return self._fetch_current()

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
