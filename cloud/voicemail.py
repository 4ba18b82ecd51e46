"""Voicemail in the registry: asking a host line to take a message, storing what the host delivers, and
keeping each holder's waiting count (the profile's ``waiting``, which turns on message waiting at the box
where their card is).

- :func:`take`: the router found nobody to answer an incoming call for an account (nobody answered
  within the holder's voicemail timeout, the holder's card is in no box, or their filters say
  ``voicemail``): a ``recording`` row is stored (with the call id of the missed-call record) and the host
  box gets ``voicemail.take`` with the row's message id.
- :func:`receive_chunk`: one ``voicemail.chunk`` delivered by a box's outbox. A chunk is accepted only
  for a message this box was asked to record; re-sent chunks change nothing (idempotent). Once chunks
  ``0 … last`` are all in, the message becomes ``new``, its audio is the joined chunks, and the holder's
  waiting count is recounted (a new profile version: the registry pushes it within a sweep).
- :func:`set_state` / :func:`delete`: the holder (or an operator) saves or deletes a message; both
  recount the waiting count.

No I/O beyond the store it is given; times are wall-clock seconds passed in.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Sequence
from typing import Any

from roamline.cloud.records import Box, RegistryStore, VoicemailRecord
from roamline.wire import profile as wire_profile
from roamline.wire import voicemail as wire_vm

log = logging.getLogger(__name__)

MAX_S = 120.0  # the longest message a host is asked to record
SILENCE_S = 8.0  # a message ends after this long without the caller's voice
STATES = ("new", "saved")


def new_message_id() -> str:
    return f"vm-{secrets.token_hex(10)}"


def take(store: RegistryStore, *, call_id: str, account_id: str, number: str, host_box: str,
         caller: str | None, caller_name: str | None, now: float,
         message_id: str | None = None) -> wire_vm.VoicemailTake:
    """Store the message about to be recorded (state ``recording``) and the request for the host."""
    mid = message_id or new_message_id()
    greeting = "default"
    stored = store.get_profile(account_id)
    if stored is not None:
        try:
            greeting = wire_profile.parse(stored[0]).voicemail.greeting
        except wire_profile.ProfileError:
            greeting = "default"
    with store.transaction():  # committed before the host hears of it: its chunks find the row
        store.add_voicemail(VoicemailRecord(message_id=mid, account_id=account_id, number=number,
                                            call_id=call_id, host_box=host_box, created=now,
                                            state="recording", caller=caller, caller_name=caller_name))
        store.add_event(now, "voicemail-take", {"message": mid, "call": call_id, "account": account_id,
                                                "box": host_box})
    log.info("voicemail-take", extra={"fields": {"message": mid, "call": call_id, "account": account_id,
                                                 "box": host_box}})
    return wire_vm.VoicemailTake(call_id=call_id, message_id=mid, number=number, greeting=greeting,
                                 max_s=MAX_S, silence_s=SILENCE_S)


def receive_chunk(store: RegistryStore, box_id: str, payload: dict[str, Any], now: float) -> str:
    """One delivered chunk: ``"stored"``, ``"complete"`` (the message is in), ``"duplicate"``, or
    ``"refused: <why>"`` (logged; the delivery is still acknowledged, so a bad chunk never blocks the
    box's outbox). Runs inside the caller's transaction."""
    try:
        chunk = wire_vm.parse_chunk(payload)
    except wire_vm.VoicemailError as exc:
        return _refused(store, box_id, "?", str(exc), now)
    rec = store.get_voicemail(chunk.message_id)
    if rec is None and chunk.message_id.startswith(wire_vm.OFFLINE_PREFIX):
        rec, why = _offline_message(store, box_id, chunk, now)
        if rec is None:
            return why if why == "stored" else _refused(store, box_id, chunk.message_id, why, now)
    if rec is None or rec.host_box != box_id:
        return _refused(store, box_id, chunk.message_id, "no such message asked of this box", now)
    if rec.state != "recording":
        return "duplicate"  # the message is complete already (a chunk re-sent after its ack was lost)
    meta = chunk.meta.to_json() if chunk.meta is not None else None
    if meta is not None and (chunk.meta is None or chunk.meta.call_id != rec.call_id):
        return _refused(store, box_id, chunk.message_id, "meta names another call", now)
    if not store.add_voicemail_chunk(chunk.message_id, chunk.seq, chunk.audio, meta):
        return "duplicate"
    rows = store.voicemail_chunks(chunk.message_id)
    last = next(((seq, m) for seq, _a, m in rows if m is not None), None)
    if last is None or len(rows) != last[0] + 1:
        return "stored"
    parts = [wire_vm.Chunk(chunk.message_id, seq, m is not None, audio, None) for seq, audio, m in rows]
    try:
        audio = wire_vm.assemble(parts)
    except wire_vm.VoicemailError as exc:
        return _refused(store, box_id, chunk.message_id, str(exc), now)
    last_meta = last[1]
    assert last_meta is not None
    if not audio:  # the caller said nothing (hung up at the beep): no message, only the missed call
        store.delete_voicemail(chunk.message_id)
        store.add_event(now, "voicemail-empty", {"message": chunk.message_id, "call": rec.call_id})
        return "complete"
    store.finish_voicemail(chunk.message_id, audio, last_meta, now)
    waiting = recount(store, rec.account_id, now)
    store.add_event(now, "voicemail-recorded", {"message": chunk.message_id, "call": rec.call_id,
                                                "account": rec.account_id, "bytes": len(audio),
                                                "waiting": waiting})
    log.info("voicemail-recorded", extra={"fields": {"message": chunk.message_id, "call": rec.call_id,
                                                     "account": rec.account_id, "bytes": len(audio),
                                                     "duration_s": last_meta.get("duration_s"),
                                                     "waiting": waiting}})
    return "complete"


def _offline_message(store: RegistryStore, box_id: str, chunk: wire_vm.Chunk,
                     now: float) -> tuple[VoicemailRecord | None, str]:
    """A message a host box took on its own line while it could not reach the registry (id ``vo-…``):
    its chunks are kept until the one with the meta names the call and the number; the message is then
    filed for the number's holder (a shared number: ``shared_mailbox``), once, if the number is that box's
    own line. Returns the new
    row, or ``None`` and ``"stored"`` (kept, waiting for the meta) or why it is refused."""
    box = store.get_box(box_id)
    if box is None or not box.line_number:
        return None, "an offline message from a box without a line"
    if chunk.meta is None:
        store.add_voicemail_chunk(chunk.message_id, chunk.seq, chunk.audio, None)
        return None, "stored"
    if chunk.meta.number != box.line_number:
        return None, "an offline message for a number that is not this box's line"
    account_id = shared_mailbox(store, box, store.accounts_for_number(chunk.meta.number))
    if account_id is None:
        return None, "nobody holds the number"
    rec = VoicemailRecord(message_id=chunk.message_id, account_id=account_id, number=chunk.meta.number,
                          call_id=chunk.meta.call_id, host_box=box_id, created=now, state="recording",
                          caller=chunk.meta.caller, caller_name=chunk.meta.caller_name)
    store.add_voicemail(rec)
    store.add_event(now, "voicemail-offline", {"message": rec.message_id, "call": rec.call_id,
                                               "account": rec.account_id, "box": box_id})
    log.info("voicemail-offline", extra={"fields": {"message": rec.message_id, "call": rec.call_id,
                                                    "account": rec.account_id, "box": box_id}})
    return rec, ""


def shared_mailbox(store: RegistryStore, box: Box | None, accounts: Sequence[str]) -> str | None:
    """Whose mailbox takes a message for a number several ``accounts`` hold when no holder was chosen
    (docs/protocol.md §10.6): the line's owner (the host box enrolled with an account id or an account's
    name) when they are one of them, else the first by name (the attendant's key 1). None: no account."""
    named: list[tuple[str, str]] = []
    for account_id in accounts:
        account = store.get_account(account_id)
        name = (account.name if account is not None else "") or account_id
        if box is not None and box.owner and box.owner in (account_id, name):
            return account_id
        named.append((name, account_id))
    return min(named)[1] if named else None


def _refused(store: RegistryStore, box_id: str, message_id: str, why: str, now: float) -> str:
    store.add_event(now, "voicemail-chunk-refused", {"box": box_id, "message": message_id, "why": why})
    log.warning("voicemail-chunk-refused", extra={"fields": {"box": box_id, "message": message_id,
                                                             "why": why}})
    return f"refused: {why}"


def recount(store: RegistryStore, account_id: str, now: float) -> int:
    """Set the profile's ``waiting`` to the account's new messages (a new version when it changed)."""
    n = min(store.count_new_voicemails(account_id), wire_profile.MAX_WAITING)
    stored = store.get_profile(account_id)
    raw: dict[str, Any] = dict(stored[0]) if stored is not None else {}
    try:
        current = wire_profile.parse(raw)
    except wire_profile.ProfileError:
        if raw.get("waiting") != n:  # keep the operator's (unparsable) profile, fix the count only
            store.put_profile(account_id, {**raw, "waiting": n}, now)
        return n
    if stored is None or current.waiting != n:
        store.put_profile(account_id, dataclasses.replace(current, waiting=n).to_json(), now)
    return n


def set_state(store: RegistryStore, message_id: str, state: str, now: float) -> VoicemailRecord | None:
    """``new`` or ``saved``; None if there is no such message."""
    if state not in STATES:
        raise ValueError(f"state must be one of {STATES}")
    with store.transaction():
        rec = store.get_voicemail(message_id)
        if rec is None or not store.set_voicemail_state(message_id, state):
            return None
        recount(store, rec.account_id, now)
        return store.get_voicemail(message_id)


def delete(store: RegistryStore, message_id: str, now: float) -> VoicemailRecord | None:
    with store.transaction():
        rec = store.get_voicemail(message_id)
        if rec is None or rec.state not in STATES or not store.delete_voicemail(message_id):
            return None
        recount(store, rec.account_id, now)
        store.add_event(now, "voicemail-deleted", {"message": message_id, "account": rec.account_id})
        return rec


def pin_hash_of(store: RegistryStore, account_id: str) -> str:
    """The account's voicemail PIN hash ("" : none set)."""
    stored = store.get_profile(account_id)
    if stored is None:
        return ""
    try:
        return wire_profile.parse(stored[0]).voicemail.pin_hash
    except wire_profile.ProfileError:  # fail closed: a PIN that may be set stays asked for (and never fits)
        vm = stored[0].get("voicemail") if isinstance(stored[0], dict) else None
        raw = vm.get("pin_hash") if isinstance(vm, dict) else None
        return raw if isinstance(raw, str) else ""


def listing(store: RegistryStore, account_id: str, card_id: str) -> wire_vm.VoicemailListed:
    """The holder's messages for their box (``*98``): new first, then saved, each oldest first."""
    recs = store.voicemails(account_id)
    ordered = [r for r in recs if r.state == "new"] + [r for r in recs if r.state == "saved"]
    return wire_vm.VoicemailListed(card_id=card_id, messages=tuple(
        wire_vm.ListedMessage(message_id=r.message_id, state=r.state, caller=r.caller,
                              caller_name=(r.caller_name or None) and r.caller_name[:64],
                              started_at=r.started_at or 0.0, duration_s=r.duration_s,
                              audio_bytes=r.audio_bytes)
        for r in ordered[:wire_vm.MAX_LISTED]))


def piece(store: RegistryStore, message_id: str, seq: int) -> wire_vm.VoicemailAudio:
    """Piece ``seq`` of a message's audio (32 000 bytes each; past the end: an empty last piece)."""
    audio = store.voicemail_audio(message_id) or b""
    size = wire_vm.MAX_CHUNK_AUDIO
    part = audio[seq * size:(seq + 1) * size]
    return wire_vm.VoicemailAudio(message_id=message_id, seq=seq, last=(seq + 1) * size >= len(audio),
                                  audio=part)


def greeting_piece(store: RegistryStore, account_id: str, msg: wire_vm.VoicemailGreeting,
                   now: float) -> bool:
    """A piece of a greeting the holder recorded; True when it is whole and has become their greeting
    (the profile's ``voicemail.greeting``: a new version, pushed like any change)."""
    with store.transaction():
        store.add_greeting_piece(account_id, msg.greeting_id, msg.seq, msg.audio, msg.last)
        pieces = store.greeting_pieces(account_id, msg.greeting_id)
        lasts = [seq for seq, _a, last in pieces if last]
        if not lasts or [seq for seq, _a, _l in pieces] != list(range(lasts[0] + 1)):
            return False
        audio = b"".join(a for _s, a, _l in pieces)
        store.put_greeting(account_id, msg.greeting_id, audio, now)
        stored = store.get_profile(account_id)
        try:
            current = wire_profile.parse(stored[0] if stored is not None else {})
        except wire_profile.ProfileError:
            current = wire_profile.EMPTY
        vm = dataclasses.replace(current.voicemail, greeting=msg.greeting_id)
        store.put_profile(account_id, dataclasses.replace(current, voicemail=vm).to_json(), now)
        store.add_event(now, "voicemail-greeting", {"account": account_id, "greeting": msg.greeting_id,
                                                    "bytes": len(audio)})
    log.info("voicemail-greeting", extra={"fields": {"account": account_id, "greeting": msg.greeting_id,
                                                     "bytes": len(audio)}})
    return True


def greeting_for(store: RegistryStore, box_id: str, message_id: str,
                 seq: int) -> wire_vm.VoicemailAudio | None:
    """Piece ``seq`` of the greeting for the message ``message_id`` this host box is taking (None: no
    such message asked of this box, or its holder has no recorded greeting)."""
    rec = store.get_voicemail(message_id)
    if rec is None or rec.host_box != box_id or rec.state != "recording":
        return None
    stored = store.get_profile(rec.account_id)
    try:
        greeting = wire_profile.parse(stored[0]).voicemail.greeting if stored is not None else "default"
    except wire_profile.ProfileError:
        return None
    audio = store.greeting_audio(rec.account_id, greeting) if greeting != "default" else None
    if audio is None:
        return None
    size = wire_vm.MAX_CHUNK_AUDIO
    return wire_vm.VoicemailAudio(message_id=message_id, seq=seq, last=(seq + 1) * size >= len(audio),
                                  audio=audio[seq * size:(seq + 1) * size])


__all__ = ["delete", "greeting_for", "greeting_piece", "listing", "new_message_id", "piece", "receive_chunk",
           "recount", "set_state", "take"]
