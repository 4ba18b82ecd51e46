"""The box core's side of the moved-location prompt (issue 11 item 4; docs/protocol.md §4.1).

When the box's location is *unconfirmed*, the next off-hook plays, instead of plain dial tone, the spoken
prompt with the recorded address ("This phone may have moved. It is recorded at … Press 1 to confirm, 2
for the next recorded address"), then dial tone. While it plays, the confirm key confirms the offered
address (the registry hears ``location.confirmed``: who — the calling holder's card, or ``handset`` —
which address and when) and the next key offers the next recorded address. Any other key ends the
prompt and is the first digit of a number as usual: the keys are chosen so that neither starts an
emergency string, so 911 keyed during the prompt dials at its last digit like any other time. Hanging up
without confirming leaves the location unconfirmed: the next off-hook asks again.

Sans-I/O: the location side (``firmware.location.service.LocationService``, passed in) is driven here
and what it returns becomes the core's actions (prompts, the registry request, the new snapshot).
"""

from __future__ import annotations

from typing import Any, Protocol

from roamline.firmware.core import events as ev
from roamline.firmware.location.moved import Say
from roamline.wire.messages import Message


class Where(Protocol):
    """What the prompt needs from the box's location service."""

    @property
    def prompting(self) -> bool: ...

    def offhook(self, holder: str = "") -> list[Any]: ...

    def key(self, digit: str) -> tuple[list[Any], list[Message]]: ...

    def onhook(self) -> None: ...

    def snapshot(self) -> dict[str, Any] | None: ...


class MovedPrompt:
    def __init__(self, where: Where) -> None:
        self._where = where
        self.active = False  # the prompt plays; the confirm/next keys are ours
        self._n = 0
        self._unsent: dict[str, Message] = {}  # confirmations the registry has not acknowledged, by key

    def lift(self, holder: str) -> list[ev.Action]:
        """The handset was lifted (and the holder known): the prompt and then dial tone, or [] when the
        location is confirmed (the core plays dial tone as usual)."""
        if self._where.prompting:  # lifted again in the same prompt (cannot happen: hang-up ends it)
            self._where.onhook()
        says = [a for a in self._where.offhook(holder) if isinstance(a, Say)]
        if not says:
            return []
        self.active = True
        return [ev.Emit("location.prompt", {"prompt": says[-1].name, "holder": holder or "handset"}),
                ev.PlayPrompt(says[-1].name), ev.PlayTone("dial")]

    def key(self, digit: str) -> tuple[list[ev.Action], dict[str, Any] | None] | None:
        """A key while the prompt plays: the actions and the new location snapshot when it was ours; None
        when it is not (the prompt ends, the key goes to the dial plan)."""
        if not self.active or not self._where.prompting:
            self.active = False
            return None
        actions, messages = self._where.key(digit)
        says = [a for a in actions if isinstance(a, Say)]
        if not says and not messages:
            self.active = False  # not the confirm or next key: dialling begins with it
            return None
        out: list[ev.Action] = []
        snapshot: dict[str, Any] | None = None
        for msg in messages:
            self._n += 1
            self._unsent[f"location:{self._n}"] = msg
            out.append(ev.Request(f"location:{self._n}", msg))
            snapshot = self._where.snapshot()
            out.append(ev.Emit("location.confirmed", {"by": getattr(msg, "by", ""),
                                                      "address": getattr(msg, "address", None)}))
        if says:
            out.append(ev.PlayPrompt(says[-1].name))
        out.append(ev.PlayTone("dial"))
        if not self._where.prompting:
            self.active = False  # confirmed: the keys are the dial plan's again
        return out, snapshot

    def acknowledged(self, key: str) -> None:
        """The registry answered the request under ``key`` (ok, or refused: sending it again is no use)."""
        self._unsent.pop(key, None)

    def resend(self) -> list[ev.Action]:
        """After a reconnect: the confirmations that did not reach the registry, oldest first (a
        confirmation made while the link was down is not lost)."""
        return [ev.Request(key, msg) for key, msg in self._unsent.items()]

    def hang_up(self) -> None:
        self.active = False
        if self._where.prompting:
            self._where.onhook()


__all__ = ["MovedPrompt", "Where"]
