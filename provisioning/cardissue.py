"""Card issuance: make the card's keys, have the registry certify them for an account, store the certificates.

Where keys live is behind :class:`CardKeys`, so a real PIV card fits later: its keys are generated on the
card (GENERATE ASYMMETRIC KEY PAIR, INS 47, for slots 9E and 9A), the CSR is signed by the card, and the
certificates are written with PUT DATA (objects 5FC101 for 9E, 5FC105 for 9A) after VERIFY with the
admin key. Today's implementation is :class:`VirtualCardKeys`, which produces a card file for the
virtual PIV card (roamline.provisioning.cardfile).

Both keys are enrolled with the same one-time installer token: 9E first (this binds the card to the
account), then 9A, which the registry accepts once for the card that token enrolled. ``Enroll.slot``
says which key a request is for (the CSR's own subject is ignored by the registry).

Issuing is safe to repeat: the command checks everything local first (PIN, card id, output path) and
writes the card's keys to a pending file beside the card file (``OUT.pending``, mode 0600) before it
spends the token. If anything fails after that (network, registry, disk), running the same command
again reuses those keys; the registry answers a repeated request (same token, card id, account, key)
with the certificate it already issued (roamline.cloud.enrollment), so no orphan card is left and the
token is not lost. The pending file is removed once the card file is written.
"""

from __future__ import annotations

import logging
import os
import time
import tomllib
from pathlib import Path
from typing import Protocol

import tomli_w

from roamline.provisioning.cardfile import CardFile, ChuidFields, PinFields, SlotKey, key_pem
from roamline.provisioning.enroll import RegistryAddress, check_issued, enroll_over_link
from roamline.provisioning.errors import UsageError
from roamline.wire import identity
from roamline.wire.errors import UsageError as WireUsageError
from roamline.wire.messages import CardSlot, Enroll, EnrollKind

log = logging.getLogger(__name__)

SLOTS = ("9e", "9a")
# A syntactically valid 25-byte FASC-N (agency/system 9999, credential 999999), as test cards carry.
DEFAULT_FASC_N = "d4e739da739ced39ce739d836858210842108421c84210c3eb"


class CardKeys(Protocol):
    """A card being issued: where its keys are generated and its certificates stored."""

    @property
    def card_id(self) -> str:
        """The CHUID GUID as 32 lowercase hex digits."""

    def new_key_csr(self, slot: str) -> tuple[str, identity.PublicKey]:
        """Generate the slot's key (on the card, for a real one) and return a CSR signed by it + the key."""

    def install(self, slot: str, cert_pem: str) -> None:
        """Store the slot's certificate (PUT DATA on a real card)."""


class VirtualCardKeys:
    """Keys made in software for the virtual PIV card; ``cardfile()`` gives the card file to serve."""

    def __init__(self, guid: str | None = None, keys: dict[str, identity.PrivateKey] | None = None) -> None:
        self._guid = guid or os.urandom(16).hex()
        if identity.CARD_ID_RE.fullmatch(self._guid) is None:
            raise UsageError(f"card GUID {self._guid!r} is not 32 lowercase hex digits")
        self._keys: dict[str, identity.PrivateKey] = dict(keys or {})
        self._certs: dict[str, str] = {}

    def prepare(self, slots: tuple[str, ...] = SLOTS) -> dict[str, identity.PrivateKey]:
        """Make the keys of ``slots`` now (kept: the CSRs are then made from them); returns every key."""
        for slot in slots:
            if slot not in SLOTS:
                raise UsageError(f"no slot {slot!r} (slots: {', '.join(SLOTS)})")
            self._keys.setdefault(slot, identity.generate_key())
        return dict(self._keys)

    @property
    def card_id(self) -> str:
        return self._guid

    def new_key_csr(self, slot: str) -> tuple[str, identity.PublicKey]:
        if slot not in SLOTS:
            raise UsageError(f"no slot {slot!r} (slots: {', '.join(SLOTS)})")
        key = self._keys.setdefault(slot, identity.generate_key())  # a retry reuses the pending key
        return identity.make_csr(key, self._guid).decode("ascii"), key.public_key()

    def install(self, slot: str, cert_pem: str) -> None:
        self._certs[slot] = cert_pem

    def private_key(self, slot: str) -> identity.PrivateKey:
        return self._keys[slot]

    def cardfile(self, pin: str = "123456") -> CardFile:
        if "9e" not in self._certs:
            raise UsageError("the card has no 9E certificate yet")
        slots = {s: SlotKey(key_pem=key_pem(self._keys[s]), cert_pem=self._certs[s]) for s in self._certs}
        return CardFile(
            chuid=ChuidFields(fasc_n=DEFAULT_FASC_N, guid=self._guid),
            slot_9e=slots["9e"],
            slot_9a=slots.get("9a"),
            pin=PinFields(pin=pin),
        )


async def issue_card(address: RegistryAddress, ca_pem: bytes, token: str, account: str, card: CardKeys, *,
                     with_9a: bool = True, timeout: float = 10.0) -> list[str]:  # noqa: ASYNC109
    """Enroll the card's keys (9E, then 9A) and install their certificates; returns the slots done."""
    done: list[str] = []
    for slot in ("9e", "9a") if with_9a else ("9e",):
        csr, public = card.new_key_csr(slot)
        request = Enroll(token=token, csr_pem=csr, kind=EnrollKind.CARD, account=account,
                         card_id=card.card_id, slot=CardSlot(slot))
        enrolled = await enroll_over_link(address, ca_pem, request, timeout)
        check_issued(enrolled, ca_pem, identity.Role.CARD, public, time.time())
        card.install(slot, enrolled.cert_pem)
        done.append(slot)
        log.info("card-key-enrolled", extra={"fields": {"card": card.card_id, "slot": slot}})
    return done


# --- pending issuance (resumable) -------------------------------------------------------------------


def pending_path(out: Path) -> Path:
    return out.with_name(out.name + ".pending")


def start_pending(out: Path, account: str, guid: str | None, with_9a: bool) -> VirtualCardKeys:
    """The card to issue into ``out``: resumed from ``OUT.pending`` if an earlier run left one, else new
    keys written there first (which also proves the output directory writable before the token is spent)."""
    pending = pending_path(out)
    slots = SLOTS if with_9a else ("9e",)
    if pending.exists():
        try:
            data = tomllib.loads(pending.read_text(encoding="utf-8"))
            keys = {s: identity.load_private_key_pem(data["keys"][s].encode()) for s in data["keys"]}
            old_guid, old_account = str(data["guid"]), str(data["account"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError, WireUsageError) as exc:
            why = f"{pending}: unreadable pending issuance ({exc}); remove it to start over"
            raise UsageError(why) from None
        if guid is not None and guid != old_guid:
            raise UsageError(f"{pending}: an unfinished issuance of card {old_guid} (not {guid}) is pending")
        if account != old_account:
            raise UsageError(f"{pending}: an unfinished issuance for account {old_account} is pending")
        card = VirtualCardKeys(old_guid, keys)
        log.info("card-issue-resumed", extra={"fields": {"card": old_guid, "pending": str(pending)}})
    else:
        card = VirtualCardKeys(guid)
    keys = card.prepare(slots)
    body = {"guid": card.card_id, "account": account, "keys": {s: key_pem(k) for s, k in keys.items()}}
    tmp = pending.with_name(pending.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(tomli_w.dumps(body, multiline_strings=True))
        tmp.replace(pending)
    except OSError as exc:
        raise UsageError(f"{out}: cannot write there: {exc.strerror or exc}") from None
    return card


def finish_pending(out: Path) -> None:
    pending_path(out).unlink(missing_ok=True)


# --- pending issuance of a real card (its keys stay on the card: only public keys are kept) ----------


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write there: {exc.strerror or exc}") from None


class PivPending:
    """``OUT.pending`` of a real-card issuance: the card's GUID, the account, the public keys made on the
    card so far and the final steps already done (PIN, PUK, management key), so that running the same
    command again after a failure finishes the same card with the same keys and the same token."""

    def __init__(self, out: Path, account: str, guid: str, reader: str) -> None:
        self.path = pending_path(out)
        self.account, self.guid, self.reader = account, guid, reader
        self.keys: dict[str, str] = {}  # slot -> public key PEM
        self.done: list[str] = []

    @classmethod
    def start(cls, out: Path, account: str, guid: str | None, reader: str) -> PivPending:
        from roamline.provisioning.pivcard import random_guid

        path = pending_path(out)
        if not path.exists():
            pending = cls(out, account, guid or random_guid(), reader)
            pending.save()  # proves the directory writable before anything touches the card
            return pending
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            old = cls(out, str(data["account"]), str(data["guid"]), str(data["reader"]))
            old.keys = {str(k): str(v) for k, v in dict(data.get("public_keys", {})).items()}
            old.done = [str(x) for x in list(data.get("done", []))]
            if data.get("kind") != "piv":
                raise ValueError("not a real-card issuance")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            why = f"{path}: unreadable pending issuance ({exc}); remove it to start over"
            raise UsageError(why) from None
        if guid is not None and guid != old.guid:
            raise UsageError(f"{path}: an unfinished issuance of card {old.guid} (not {guid}) is pending")
        if account != old.account:
            raise UsageError(f"{path}: an unfinished issuance for account {old.account} is pending")
        log.info("card-issue-resumed", extra={"fields": {"card": old.guid, "pending": str(path)}})
        return old

    def save(self) -> None:
        body = {"kind": "piv", "guid": self.guid, "account": self.account, "reader": self.reader,
                "public_keys": self.keys, "done": self.done}
        _write_private(self.path, tomli_w.dumps(body, multiline_strings=True))

    def finish(self) -> None:
        self.path.unlink(missing_ok=True)


def write_receipt(out: Path, body: dict[str, object]) -> None:
    """The record of a real card's issuance (no secrets but the new management key if one was made)."""
    _write_private(out, tomli_w.dumps(body, multiline_strings=True))
