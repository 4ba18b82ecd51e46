"""Emergency calls at the registry (issue 11, item 6): the box's `emergency-call` delivery becomes one
record (when, box, holder, location, route, call-back) and starts the notifications, which a real SMTP
server (aiosmtpd) and a real HTTP webhook receiver get; retries, failures, restarts."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
from typing import Any

import pytest

from roamline.cloud.notify import EmergencyNotifier, NotifyConfig, civic_text
from roamline.cloud.registry import NotifyEmergency, Outgoing
from roamline.hil.notify_sinks import SmtpSink, WebhookSink, free_tcp_port
from roamline.wire.emergency import EMERGENCY_CALL_KIND, check_report
from roamline.wire.messages import Ack, Deliver, Envelope

HOME = {"country": "US", "A1": "IL", "A3": "Shelbyville", "RD": "Harbour Road", "HNO": "400", "ROOM": "B2"}


def report(call_id: str = "box-0001-call", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"call_id": call_id, "box_id": "x", "number": "911", "dialled_at": 1.8e9,
                            "route": "own-line", "card_id": "", "line": "+15550200002",
                            "location": {"civic": HOME, "method": "installer", "state": "confirmed"}}
    body.update(extra)
    return body


def deliver(h: Any, payload: dict[str, Any], key: str | None = None) -> list[Any]:
    key = key or f"{EMERGENCY_CALL_KIND}:{payload.get('call_id')}"
    msg = Deliver(key=key, kind=EMERGENCY_CALL_KIND, payload=payload)
    out = h.registry.handle("c1", Envelope(message=msg, id="d1"), h.now)
    (ack,) = [o for o in out if isinstance(o, Outgoing) and o.re == "d1"]
    assert isinstance(ack.message, Ack) and ack.message.keys == (key,)
    return [o for o in out if isinstance(o, NotifyEmergency)]


@pytest.fixture
def world(harness: Any) -> Any:
    h = harness
    h.acct = h.account("Carol", "+15550200002")
    h.box = h.enroll_box("box-b")
    h.card = h.enroll_card(h.acct)
    h.contacts = ("mailto:ops@example.com", "http://127.0.0.1:9/hook")
    box = h.store.get_box(h.box.box_id)
    h.store.put_box(dataclasses.replace(box, location={"civic": HOME, "method": "installer"},
                                        line_number="+15550200002", emergency_contacts=h.contacts))
    h.hello("c1", h.box)
    return h


def test_an_emergency_delivery_is_recorded_once_with_holder_location_route_and_call_back(world: Any) -> None:
    h = world
    notes = deliver(h, report(card_id=h.card.card_id))
    assert notes == [NotifyEmergency("box-0001-call")]
    rec = h.store.get_emergency("box-0001-call")
    assert rec is not None and rec.box_id == h.box.box_id and rec.box_name == "box-b"
    assert rec.holder == "Carol" and rec.account_id == h.acct and rec.card_id == h.card.card_id
    assert rec.route == "own-line" and rec.number == "911" and rec.at == 1.8e9
    assert rec.call_back == "+15550200002" and rec.location["civic"]["RD"] == "Harbour Road"
    assert rec.contacts == h.contacts and rec.notify_state == "pending" and rec.problems == ()
    # the outbox redelivers after a reconnect: acked again, recorded and notified once
    assert deliver(h, report(card_id=h.card.card_id)) == []
    assert len(h.store.emergencies()) == 1
    assert [e.kind for e in h.store.events() if e.kind == "emergency-call"] == ["emergency-call"]


def test_a_malformed_report_is_still_recorded_and_notified_never_refused(world: Any) -> None:
    h = world
    notes = deliver(h, report("box-0002-call", number="nine-one-one", route="pigeon", location={"civic": "x"},
                              dialled_at="soon", card_id=12))
    assert notes == [NotifyEmergency("box-0002-call")]
    rec = h.store.get_emergency("box-0002-call")
    assert rec is not None and rec.holder is None and rec.route == "" and rec.at is None
    assert rec.location["civic"]["RD"] == "Harbour Road"  # the box's recorded location instead
    assert {p.split(":")[0] for p in rec.problems} == {"number", "route", "location", "dialled_at", "card_id"}
    # without a call id there is nothing to record once: acked (kept as a raw delivery), not notified
    assert deliver(h, report(call_id=""), key="emergency-call:?") == []


def test_check_report_is_lenient_but_needs_a_call_id() -> None:
    from roamline.wire.errors import UsageError

    fields, problems = check_report(report())
    assert problems == [] and fields["location"]["state"] == "confirmed"
    for bad in (None, [], {"number": "911"}, {"call_id": "x" * 65}, {"call_id": "a b"}):
        with pytest.raises(UsageError):
            check_report(bad)


async def _notify(h: Any, config: NotifyConfig, call_id: str) -> Any:
    n = EmergencyNotifier(h.store, config, wall=lambda: h.now)
    n.open()
    try:
        n.notify(call_id)
        await n.wait_idle()
    finally:
        await n.close()
    return h.store.get_emergency(call_id)


def test_every_contact_is_told_by_a_real_smtp_server_and_webhook(world: Any) -> None:
    h = world
    secret = b"0123456789abcdef-secret"
    with SmtpSink() as smtp, WebhookSink() as hook:
        box = h.store.get_box(h.box.box_id)
        h.store.put_box(dataclasses.replace(box, emergency_contacts=("mailto:ops@example.com", hook.url)))
        deliver(h, report(card_id=h.card.card_id))
        cfg = NotifyConfig(smtp_host=smtp.host, smtp_port=smtp.port, smtp_from="registry@example.com",
                           webhook_secret=secret, timeout_s=5)
        rec = asyncio.run(_notify(h, cfg, "box-0001-call"))
        (mail,) = smtp.wait(1)
        (got,) = hook.wait(1)
    assert rec.notify_state == "sent" and [n["ok"] for n in rec.notifications] == [True, True]
    assert all(n["attempts"] == 1 for n in rec.notifications)
    assert mail.rcpt_tos == ["ops@example.com"] and mail.mail_from == "registry@example.com"
    assert mail.message["Subject"] == "Emergency call (911) from box-b"
    text = mail.message.get_content()
    assert "400 Harbour Road, room B2, Shelbyville, IL, US" in text and "+15550200002" in text
    assert "Carol" in text and "own-line" in text
    body = got.json()
    assert body["event"] == "emergency-call" and body["call_id"] == "box-0001-call"
    assert body["holder"] == "Carol"
    assert body["call_back"] == "+15550200002" and body["address"] == civic_text(rec.location)
    assert got.headers["Idempotency-Key"] == "box-0001-call"
    want = "sha256=" + hmac.new(secret, got.body, hashlib.sha256).hexdigest()
    assert got.headers["X-Roamline-Signature"] == want
    assert any(e.kind == "emergency-notified" for e in h.store.events())


def test_a_failing_webhook_is_retried_and_a_dead_one_is_recorded_failed(world: Any) -> None:
    h = world
    dead = f"http://127.0.0.1:{free_tcp_port()}/nobody"  # nothing listens: connection refused
    with WebhookSink(fail_first=2) as flaky:
        box = h.store.get_box(h.box.box_id)
        contacts = (flaky.url, dead, "mailto:a@example.com")
        h.store.put_box(dataclasses.replace(box, emergency_contacts=contacts))
        deliver(h, report())
        cfg = NotifyConfig(smtp_host=None, attempts=3, backoff_s=0.05, timeout_s=2)
        rec = asyncio.run(_notify(h, cfg, "box-0001-call"))
        assert len(flaky.wait(1)) == 1 and flaky.refused == 2
    by = {n["contact"]: n for n in rec.notifications}
    assert by[flaky.url]["ok"] and by[flaky.url]["attempts"] == 3
    assert not by[dead]["ok"] and by[dead]["attempts"] == 3 and "refused" in by[dead]["error"].lower()
    assert not by["mailto:a@example.com"]["ok"] and "no SMTP relay" in by["mailto:a@example.com"]["error"]
    assert by["mailto:a@example.com"]["attempts"] == 0
    assert rec.notify_state == "partial"


def test_notifications_left_pending_by_a_stopped_registry_are_sent_at_the_next_start(world: Any) -> None:
    h = world
    with WebhookSink() as hook:
        box = h.store.get_box(h.box.box_id)
        h.store.put_box(dataclasses.replace(box, emergency_contacts=(hook.url,)))
        deliver(h, report())  # recorded; the process "stops" before the notifier ran
        assert h.store.get_emergency("box-0001-call").notify_state == "pending"

        async def restart() -> None:
            n = EmergencyNotifier(h.store, NotifyConfig(), wall=lambda: h.now)
            n.open()
            try:
                await n.resume()
                await n.wait_idle()
            finally:
                await n.close()

        asyncio.run(restart())
        assert len(hook.wait(1)) == 1
    assert h.store.get_emergency("box-0001-call").notify_state == "sent"


def test_a_box_without_contacts_is_recorded_as_having_none(world: Any) -> None:
    h = world
    box = h.store.get_box(h.box.box_id)
    h.store.put_box(dataclasses.replace(box, emergency_contacts=()))
    deliver(h, report())
    assert h.store.get_emergency("box-0001-call").notify_state == "no-contacts"


def test_notify_settings_are_checked() -> None:
    from roamline.cloud.errors import UsageError

    for bad in ({"attempts": 0}, {"timeout_s": 0}, {"smtp_port": 0}, {"backoff_s": -1}):
        with pytest.raises(UsageError):
            NotifyConfig(**bad)
