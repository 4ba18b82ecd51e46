"""Emergency notifications (Kari's Law): the registry tells a box's emergency contacts of every 911 call.

The pure part builds what is sent (:func:`email_for`, :func:`webhook_for`) and folds results
(:func:`outcome`); :class:`EmergencyNotifier` is the thin asyncio adapter the registry server owns. It
never blocks the event loop: each contact is sent on a worker thread (``smtplib`` with a timeout, an
HTTP POST through ``urllib`` with a timeout), bounded by ``attempts`` with a backoff between them, and
contacts are sent at once (one slow webhook does not hold up the e-mail). Results go back to the record
(``RegistryStore.set_emergency_notified``) on the loop, where the registry's store lives. Records still
``pending`` when the server starts (it stopped mid-send) are sent then.

E-mail goes through one SMTP relay (``cloud serve --smtp-host/--smtp-port``); webhooks are POSTed JSON
(``Content-Type: application/json``, ``X-Roamline-Event: emergency-call``, ``Idempotency-Key``: the call
id, and with a secret ``X-Roamline-Signature: sha256=<HMAC-SHA256 of the body>``). A 2xx answer is
delivered; anything else, a refused connection or a timeout is retried.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from roamline.cloud.errors import UsageError
from roamline.cloud.records import EmergencyRecord, Json, RegistryStore
from roamline.wire.emergency import EMERGENCY_CALL_KIND

log = logging.getLogger(__name__)

CIVIC_ORDER = ("HNO", "HNS", "PRD", "RD", "STS", "POD", "LOC", "FLR", "UNIT", "ROOM", "SEAT", "A6", "A5",
               "A4", "A3", "A2", "A1", "PC", "country")
CIVIC_LABELS = {"FLR": "floor", "ROOM": "room", "UNIT": "unit", "SEAT": "seat"}


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    smtp_host: str | None = None  # None: e-mail contacts cannot be told (their result says so)
    smtp_port: int = 25
    smtp_from: str = "roamline-registry@localhost"
    smtp_starttls: bool = False
    timeout_s: float = 5.0  # per attempt, per contact
    attempts: int = 3
    backoff_s: float = 1.0  # before attempt n+1: backoff_s * 2**(n-1)
    webhook_secret: bytes | None = None
    workers: int = 4

    def __post_init__(self) -> None:
        if not 1 <= self.attempts <= 20 or not 0 < self.timeout_s <= 120 or not 0 <= self.backoff_s <= 60:
            raise UsageError("notify: attempts 1..20, timeout_s (0, 120], backoff_s [0, 60]")
        if not 1 <= self.smtp_port <= 65535 or not 1 <= self.workers <= 64:
            raise UsageError("notify: smtp_port 1..65535, workers 1..64")


def civic_text(location: Json | None) -> str:
    """The civic address on one line ("12 Elm Street, floor 1, Springfield, IL, 62701, US")."""
    civic = (location or {}).get("civic") or {}
    if not isinstance(civic, dict) or not civic:
        return "no address recorded"
    parts: list[str] = []
    street = " ".join(str(civic[k]) for k in ("HNO", "HNS", "PRD", "RD", "STS", "POD") if civic.get(k))
    if street:
        parts.append(street)
    for key in CIVIC_ORDER[6:]:
        if key in ("HNO", "HNS", "PRD", "RD", "STS", "POD") or not civic.get(key):
            continue
        label = CIVIC_LABELS.get(key)
        parts.append(f"{label} {civic[key]}" if label else str(civic[key]))
    return ", ".join(parts)


def _when(at: float | None) -> str:
    if at is None:
        return "unknown time"
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def webhook_body(rec: EmergencyRecord) -> Json:
    """The JSON a webhook receives."""
    loc = rec.location or {}
    return {"event": EMERGENCY_CALL_KIND, "call_id": rec.call_id, "box_id": rec.box_id,
            "box_name": rec.box_name,
            "number": rec.number, "dialled_at": rec.at, "received_at": rec.received, "route": rec.route,
            "call_back": rec.call_back, "holder": rec.holder, "account_id": rec.account_id,
            "address": civic_text(rec.location), "location": loc or None}


def email_for(rec: EmergencyRecord, to: str, sender: str) -> EmailMessage:
    """The e-mail to one contact (``to`` without ``mailto:``)."""
    msg = EmailMessage()
    where = civic_text(rec.location)
    msg["Subject"] = f"Emergency call ({rec.number or 'emergency'}) from {rec.box_name or rec.box_id}"
    msg["From"] = sender
    msg["To"] = to
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(idstring=rec.call_id.replace(":", "-")[:40], domain="roamline")
    msg["X-Roamline-Event"] = EMERGENCY_CALL_KIND
    geo = (rec.location or {}).get("geo")
    lines = [
        f"An emergency call ({rec.number}) was made from the Roamline box {rec.box_name or rec.box_id}.",
        "",
        f"When:       {_when(rec.at)}",
        f"Address:    {where}",
        f"Position:   {geo['lat']:.6f}, {geo['lon']:.6f} (±{geo.get('error_m') or 0:.0f} m, GPS)"
        if isinstance(geo, dict) else "Position:   no GPS fix",
        f"Location:   {(rec.location or {}).get('state', 'unknown')}",
        f"Call-back:  {rec.call_back or 'unknown'}",
        f"Holder:     {rec.holder or 'no card in the box'}",
        f"Route:      {rec.route or 'unknown'}",
        f"Box:        {rec.box_id}",
        f"Call id:    {rec.call_id}",
    ]
    msg.set_content("\n".join(lines) + "\n")
    return msg


def outcome(results: list[Json]) -> str:
    if not results:
        return "no-contacts"
    ok = sum(1 for r in results if r.get("ok"))
    return "sent" if ok == len(results) else "failed" if ok == 0 else "partial"


@dataclass(slots=True)
class _Sent:
    contact: str
    ok: bool = False
    attempts: int = 0
    error: str = ""
    at: float | None = None
    ms: float | None = None

    def to_json(self) -> Json:
        return {"contact": self.contact, "ok": self.ok, "attempts": self.attempts, "error": self.error,
                "at": self.at, "ms": self.ms}


@dataclass
class EmergencyNotifier:
    """Sends the notifications of emergency records; ``open()`` / ``close()`` (idempotent)."""

    store: RegistryStore
    config: NotifyConfig = field(default_factory=NotifyConfig)
    wall: Callable[[], float] = time.time
    _pool: concurrent.futures.ThreadPoolExecutor | None = None
    _tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    def open(self) -> None:
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(self.config.workers,
                                                               thread_name_prefix="notify")
            if self.config.smtp_host is None:
                log.warning("notify-no-smtp", extra={"fields": {"why": "e-mail contacts will not be told"}})

    async def resume(self) -> None:
        """Start every notification a previous process left pending."""
        for rec in self.store.pending_emergencies():
            self.notify(rec.call_id)

    def notify(self, call_id: str) -> None:
        """Start notifying for ``call_id`` (once; a second call while it runs does nothing)."""
        if self._pool is None:
            raise UsageError("the notifier is not open")
        if call_id in self._tasks:
            return
        task = asyncio.get_running_loop().create_task(self._run(call_id), name=f"notify-{call_id}")
        self._tasks[call_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(call_id, None))

    async def wait_idle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def close(self) -> None:
        for t in list(self._tasks.values()):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.get_running_loop().run_in_executor(None, pool.shutdown)

    async def _run(self, call_id: str) -> None:
        rec = self.store.get_emergency(call_id)
        if rec is None or rec.notify_state != "pending":
            return
        started = time.monotonic()
        results = await asyncio.gather(*(self._contact(rec, c) for c in rec.contacts))
        state = outcome([r.to_json() for r in results])
        with self.store.transaction():
            sent = tuple(r.to_json() for r in results)
            self.store.set_emergency_notified(call_id, state=state, notifications=sent, at=self.wall())
            self.store.add_event(self.wall(), "emergency-notified", {"call": call_id, "state": state})
        level = logging.INFO if state == "sent" else logging.ERROR
        log.log(level, "emergency-notified", extra={"fields": {
            "call": call_id, "state": state, "ms": round((time.monotonic() - started) * 1000, 1),
            "failed": [r.contact for r in results if not r.ok]}})

    async def _contact(self, rec: EmergencyRecord, contact: str) -> _Sent:
        cfg = self.config
        sent = _Sent(contact)
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        send: Callable[[], None]
        if contact.startswith("mailto:"):
            host = cfg.smtp_host
            if host is None:
                sent.error = "no SMTP relay configured (cloud serve --smtp-host)"
                return sent
            msg = email_for(rec, contact.removeprefix("mailto:"), cfg.smtp_from)
            send = functools.partial(_send_mail, host, cfg.smtp_port, cfg.smtp_starttls, cfg.timeout_s, msg)
        else:
            body = json.dumps(webhook_body(rec), separators=(",", ":")).encode()
            send = functools.partial(_post, contact, body, rec.call_id, cfg.webhook_secret, cfg.timeout_s)
        for attempt in range(1, cfg.attempts + 1):
            sent.attempts = attempt
            try:
                assert self._pool is not None
                await loop.run_in_executor(self._pool, send)
            except (OSError, ValueError) as exc:  # smtplib, urllib, ssl, socket errors are OSErrors
                sent.error = f"{type(exc).__name__}: {exc}"[:200]
                fields = {"call": rec.call_id, "contact": contact, "attempt": attempt, "error": sent.error}
                log.warning("notify-attempt-failed", extra={"fields": fields})
                if attempt < cfg.attempts:
                    await asyncio.sleep(cfg.backoff_s * 2 ** (attempt - 1))
                continue
            sent.ok, sent.error, sent.at = True, "", self.wall()
            sent.ms = round((time.monotonic() - started) * 1000, 1)
            break
        return sent


def _send_mail(host: str, port: int, starttls: bool, timeout: float, msg: EmailMessage) -> None:
    with smtplib.SMTP(host, port, timeout=timeout) as smtp:
        if starttls:
            smtp.starttls(context=ssl.create_default_context())
        smtp.send_message(msg)


def _post(url: str, body: bytes, call_id: str, secret: bytes | None, timeout: float) -> None:
    headers = {"Content-Type": "application/json", "X-Roamline-Event": EMERGENCY_CALL_KIND,
               "Idempotency-Key": call_id, "User-Agent": "roamline-registry"}
    if secret is not None:
        headers["X-Roamline-Signature"] = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status = resp.status
            resp.read(4096)
    except urllib.error.HTTPError as exc:
        raise OSError(f"webhook answered {exc.code}") from None
    if not 200 <= status < 300:
        raise OSError(f"webhook answered {status}")


__all__ = ["EmergencyNotifier", "NotifyConfig", "civic_text", "email_for", "outcome", "webhook_body"]
