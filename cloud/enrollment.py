"""Enrollment: the registry's CA certifies box and card keys presented with a one-time installer token.

The token is burnt only when a certificate is issued (a refused request leaves it usable). A card's
second key (9A, PIV Authentication; ``Enroll.slot``) may be certified once, with the same token that
enrolled its 9E key.

Card ids are never re-bound: an id the registry knows (live or revoked) is not certified again for a new
key or another account, whatever the token says. Re-issuing a lost card is an operator act: revoke the
old id, issue a new one.

Card enrollment is idempotent: the same request again (same token, card id, account and key: a retry
after a lost reply or a failure on the tool's side) is answered with the certificate already issued
for that key, not refused as a used token and not certified twice. A different key, account or card id
with a used token is still refused.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from cryptography import x509

from roamline.cloud.errors import Refused
from roamline.cloud.records import Box, Card, RegistryStore
from roamline.wire import civic, contacts, identity, validate
from roamline.wire.errors import BadCertificate, ErrorCode, UsageError
from roamline.wire.messages import CardSlot, Enroll, Enrolled, EnrollKind

log = logging.getLogger(__name__)


class Enrollment:
    def __init__(self, store: RegistryStore, ca: identity.CertificateAuthority) -> None:
        self._store = store
        self._ca = ca

    def enroll(self, msg: Enroll, now: float) -> Enrolled:
        """Issue a certificate for an installer: the one-time token is the credential (no hello)."""
        try:
            csr = identity.load_csr(msg.csr_pem)
        except BadCertificate as exc:
            raise Refused(ErrorCode.BAD_BODY, f"CSR: {exc}") from None
        if msg.slot is not None and msg.kind is not EnrollKind.CARD:
            raise Refused(ErrorCode.BAD_BODY, "slot is for card enrollments")
        slot = (msg.slot or CardSlot.CARD_AUTH) if msg.kind is EnrollKind.CARD else None
        if slot is not None:
            again = self._card_retry(msg, csr, slot)
            if again is not None:
                log.info("enroll-retry", extra={"fields": {"kind": f"card-{slot}", "id": again.id}})
                return again
        details = box_details(msg.box) if msg.kind is EnrollKind.BOX else {}  # checked before the token
        with self._store.transaction():  # token burnt only if a certificate is issued
            token = self._store.consume_token(identity.token_hash(msg.token))
            if slot is CardSlot.PIV_AUTH and token is not None and token.expires > now:
                subject, cert_pem = self._enroll_card_9a(msg, token.token_hash, now)
                self._store.add_event(now, "enrolled", {"kind": "card-9a", "id": subject})
                return Enrolled(cert_pem=cert_pem, ca_cert_pem=self._ca.cert_pem.decode("ascii"), id=subject)
            if token is None or token.used or token.expires <= now:
                what = "unknown" if token is None else "already used" if token.used else "expired"
                raise Refused(ErrorCode.FORBIDDEN, f"installer token is {what}")
            if token.kind not in ("any", msg.kind.value):
                raise Refused(ErrorCode.FORBIDDEN, f"installer token is for a {token.kind}, not a {msg.kind}")
            if msg.kind is EnrollKind.BOX:
                subject, cert_pem = self._enroll_box(msg, details, csr.public_key(), now)
            else:
                subject, cert_pem = self._enroll_card(msg, token.token_hash, now)
            self._store.add_event(now, "enrolled", {"kind": msg.kind.value, "id": subject})
        log.info("enrolled", extra={"fields": {"kind": msg.kind.value, "id": subject}})
        return Enrolled(cert_pem=cert_pem, ca_cert_pem=self._ca.cert_pem.decode("ascii"), id=subject)

    def _card_retry(self, msg: Enroll, csr: x509.CertificateSigningRequest,
                    slot: CardSlot) -> Enrolled | None:
        """The certificate already issued for exactly this request (token, card, account, key), if any."""
        card = self._store.get_card(msg.card_id or "")
        same_token = card is not None and card.enroll_token == identity.token_hash(msg.token)
        if card is None or not same_token or card.account_id != msg.account:
            return None
        issued = card.cert_pem if slot is CardSlot.CARD_AUTH else card.cert_9a_pem
        if issued is None or identity.load_certificate(issued).public_key() != csr.public_key():
            return None
        if card.revoked:
            raise Refused(ErrorCode.REVOKED, f"card {card.card_id} is revoked")
        return Enrolled(cert_pem=issued, ca_cert_pem=self._ca.cert_pem.decode("ascii"), id=card.card_id)

    def _enroll_box(self, msg: Enroll, details: dict[str, Any], public_key: object,
                    now: float) -> tuple[str, str]:
        if not isinstance(public_key, identity.PublicKey):
            raise Refused(ErrorCode.BAD_BODY, "CSR key is not ECDSA P-256")
        box_id = identity.box_id_for_key(public_key)
        existing = self._store.get_box(box_id)
        if existing is not None and existing.revoked:
            raise Refused(ErrorCode.REVOKED, f"box {box_id} is revoked")
        cert = self._ca.issue_for_csr(msg.csr_pem, role=identity.Role.BOX, subject_id=box_id, now=now)
        pem = identity.certificate_pem(cert).decode("ascii")
        self._store.put_box(Box(
            box_id=box_id, cert_pem=pem, name=str(details.get("name", "")),
            board=str(details.get("board", "")),
            location=details.get("location"),
            line_number=_opt_str(details.get("line_number")), owner=_opt_str(details.get("owner")),
            revoked=False, created=now, emergency_contacts=tuple(details.get("emergency_contacts") or ()),
        ))
        return box_id, pem

    def _enroll_card_9a(self, msg: Enroll, token_hash: str, now: float) -> tuple[str, str]:
        """The card's second key (9A): allowed once, with the same token that enrolled its 9E key."""
        card = self._store.get_card(msg.card_id or "")
        if card is None or card.enroll_token != token_hash or card.account_id != msg.account:
            raise Refused(ErrorCode.FORBIDDEN, "a 9A key needs the token that enrolled this card's 9E key")
        if card.revoked:
            raise Refused(ErrorCode.REVOKED, f"card {card.card_id} is revoked")
        if card.cert_9a_pem is not None:
            raise Refused(ErrorCode.FORBIDDEN, f"card {card.card_id} already has a 9A certificate")
        cert = self._ca.issue_for_csr(msg.csr_pem, role=identity.Role.CARD, subject_id=card.card_id, now=now)
        pem = identity.certificate_pem(cert).decode("ascii")
        self._store.put_card(dataclasses.replace(card, cert_9a_pem=pem))
        return card.card_id, pem

    def _enroll_card(self, msg: Enroll, token_hash: str, now: float) -> tuple[str, str]:
        if not msg.card_id or identity.CARD_ID_RE.fullmatch(msg.card_id) is None:
            raise Refused(ErrorCode.BAD_BODY, "card enrollment needs card_id: the CHUID GUID, 32 hex digits")
        if not msg.account:
            raise Refused(ErrorCode.BAD_BODY, "card enrollment needs an account")
        account = self._store.get_account(msg.account)
        if account is None:
            raise Refused(ErrorCode.FORBIDDEN, f"no account {msg.account}")
        existing = self._store.get_card(msg.card_id)
        if existing is not None and existing.revoked:
            raise Refused(ErrorCode.REVOKED, f"card {msg.card_id} is revoked")
        if existing is not None:  # never re-bound: re-issuing is revoke, then a new card id
            raise Refused(ErrorCode.FORBIDDEN, f"card {msg.card_id} is already issued (to re-issue a card, "
                                               "revoke it and issue a new card id)")
        cert = self._ca.issue_for_csr(msg.csr_pem, role=identity.Role.CARD, subject_id=msg.card_id, now=now)
        pem = identity.certificate_pem(cert).decode("ascii")
        self._store.put_card(Card(msg.card_id, account.account_id, pem, False, now, None, token_hash))
        return msg.card_id, pem


def box_details(body: dict[str, Any] | None) -> dict[str, Any]:
    """The box details of an enrollment, checked: a recorded location must be a complete dispatchable
    civic address (roamline.wire.civic: no P.O. box), the line number E.164, the name a display name.
    Refused(BAD_BODY) if not."""
    details = dict(body or {})
    try:
        if details.get("location") is not None:
            details["location"] = civic.check_location(details["location"])
        if details.get("name") is not None:
            details["name"] = validate.check_display_name(str(details["name"]))
        if details.get("line_number") is not None:
            details["line_number"] = validate.check_e164(str(details["line_number"]))
        if details.get("emergency_contacts") is not None:
            details["emergency_contacts"] = contacts.check_contacts(details["emergency_contacts"])
    except UsageError as exc:
        raise Refused(ErrorCode.BAD_BODY, f"box details: {exc}") from None
    return details


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)
