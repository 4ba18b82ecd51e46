"""PivCardKeys, the card-signed CSR and public-key recovery, over the virtual card's APDU processor."""

from __future__ import annotations

import time

import pytest
from cryptography import x509
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.firmware.card.pivadmin import ALG_3DES, DEFAULT_MANAGEMENT_KEY, ManagementKey, PivAdmin
from roamline.hil.card.piv import OBJ_CERT_9A, OBJ_CHUID, VirtualCard
from roamline.provisioning.errors import UsageError
from roamline.provisioning.pivcard import (
    CardRefused,
    Personalisation,
    PivCardKeys,
    _candidates,
    card_csr,
    recover_public_key,
)
from roamline.wire import identity

FACTORY = ManagementKey(ALG_3DES, DEFAULT_MANAGEMENT_KEY)
GUID = "0f" * 16


def keys_on(card: VirtualCard, **plan: object) -> PivCardKeys:
    return PivCardKeys(PivAdmin(card.process), Personalisation(guid=GUID, admin_key=FACTORY, **plan))  # type: ignore[arg-type]


def test_csr_signed_by_a_signer_is_a_valid_csr() -> None:
    key = identity.generate_key()
    pem = card_csr(key.public_key(), GUID, lambda d: identity.sign_digest(key, d))
    csr = identity.load_csr(pem)  # the registry's own check: parses, self-signature valid, P-256
    assert csr.public_key() == key.public_key()
    assert csr.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == GUID
    other = identity.generate_key()
    with pytest.raises(CardRefused, match="does not match"):
        card_csr(key.public_key(), GUID, lambda d: identity.sign_digest(other, d))


def test_recover_public_key_from_signatures() -> None:
    for _ in range(5):
        key = identity.generate_key()
        assert recover_public_key(lambda d, k=key: identity.sign_digest(k, d)) == key.public_key()
    flip = [identity.generate_key(), identity.generate_key()]
    with pytest.raises(CardRefused):  # two signatures by two different keys
        recover_public_key(lambda d: identity.sign_digest(flip.pop(), d))


@settings(max_examples=10, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_every_signature_admits_the_signers_key(digest: bytes) -> None:
    key = identity.generate_key()
    assert key.public_key() in _candidates(digest, identity.sign_digest(key, digest))


def test_issuance_steps_on_a_blank_card() -> None:
    card = VirtualCard.blank()
    ca = identity.CertificateAuthority.create(now=time.time())
    keys = keys_on(card, new_pin="24681357", new_puk="87654321",
                   new_admin_key=ManagementKey(0x0A, bytes(range(24))))
    keys.prepare()
    assert card.object(OBJ_CHUID) is not None and card.admin_verified and card.pin_verified
    for slot, number in (("9e", 0x9E), ("9a", 0x9A)):
        csr, public = keys.new_key_csr(slot)
        assert public == card.public_key(number)
        cert = ca.issue_for_csr(csr, role=identity.Role.CARD, subject_id=GUID, now=time.time())
        keys.install(slot, identity.certificate_pem(cert).decode())
    assert card.object(OBJ_CERT_9A) is not None
    assert keys.finish() == ["pin", "puk", "management-key"]
    assert (card.pin, card.puk, card.admin_alg) == (b"24681357", b"87654321", 0x0A)
    exported = card.export()  # the card's state, as the virtual card file the card serve command takes
    assert exported.card_id == GUID and exported.slot_9a is not None and exported.admin.alg == "aes192"


def test_known_key_is_not_regenerated_and_9a_needs_the_pin() -> None:
    card = VirtualCard.blank()
    keys = keys_on(card, current_pin="999999", with_9a=False)
    keys.prepare()  # no 9A: the PIN is not checked
    _, public = keys.new_key_csr("9e")
    keys2 = keys_on(card, current_pin="999999")
    keys2.known["9e"] = public
    assert keys2.new_key_csr("9e")[1] == public == card.public_key(0x9E)
    with pytest.raises(CardRefused, match="PIN verification"):
        keys2.new_key_csr("9a")
    assert card.pin_tries_left == 2


def test_bad_guid_and_slot() -> None:
    with pytest.raises(UsageError):
        PivCardKeys(PivAdmin(VirtualCard.blank().process), Personalisation(guid="XY", admin_key=FACTORY))
    with pytest.raises(UsageError):
        keys_on(VirtualCard.blank()).new_key_csr("9c")
