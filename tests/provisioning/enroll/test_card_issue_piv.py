"""`roamline provision card issue --reader NAME`: a blank virtual PIV card in a vpcd reader of the real pcscd,
personalised over PC/SC by our tool, then read by our firmware's card client and by OpenSC; and the other
way round, a key OpenSC's piv-tool generated on the card, certified by our tool and used by our firmware."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from roamline.firmware.card.pcsc import PyscardBackend
from roamline.firmware.card.piv import PivClient
from roamline.firmware.card.session import CardSession
from roamline.hil.card.piv import OBJ_CERT_9A, VirtualCard
from roamline.hil.pytest_pcsc import CardRig
from roamline.wire import identity

from .registrar_support import Registrar

pytestmark = pytest.mark.pcscd
OPENSC = pytest.mark.skipif(shutil.which("piv-tool") is None, reason="OpenSC not installed")
PKCS11 = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"
FACTORY = "01:02:03:04:05:06:07:08:01:02:03:04:05:06:07:08:01:02:03:04:05:06:07:08"


@pytest.fixture
def registrar(tmp_path: Path) -> Iterator[Registrar]:
    r = Registrar(tmp_path)
    r.start()
    yield r
    r.stop()


@pytest.fixture
def blank(card_rig: CardRig) -> VirtualCard:
    card = VirtualCard.blank()
    card_rig.insert(card, 0)
    return card


def tool(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, **(env or {})})


def firmware_reads(reader: str, ca: identity.CertificateAuthority) -> tuple[str, x509.Certificate]:
    """What the box does with a card (runtime._read_card_sync / _sign_card): CHUID, the 9E certificate
    checked against the CA, and a signature with 9E checked against that certificate."""
    session = CardSession(PyscardBackend(), reader)
    session.open()
    try:
        piv = PivClient(session.transmit)
        piv.select()
        chuid = piv.read_chuid()
        der = piv.read_certificate(0x9E)
        digest = hashlib.sha256(b"registry nonce").digest()
        sig = piv.sign(0x9E, digest)
    finally:
        session.close()
    cert = x509.load_der_x509_certificate(der)
    pem = cert.public_bytes(serialization.Encoding.PEM)
    verified = identity.verify_certificate(pem, ca.certificate, now=time.time(), role=identity.Role.CARD)
    assert verified.id == chuid.card_id
    identity.verify_digest(cert.public_key(), sig, digest)  # type: ignore[arg-type]
    return chuid.card_id, cert


def issue(r: Registrar, token: str, out: Path, reader: str, *extra: str) -> int:
    return r.issue(token, out, "--reader", reader, *extra)


def test_issue_personalises_the_card(registrar: Registrar, blank: VirtualCard, card_rig: CardRig,
                                     tmp_path: Path, capsys: Any) -> None:
    reader = card_rig.readers[0]
    out = tmp_path / "issued.toml"
    new_key = "11" * 24
    rc = issue(registrar, registrar.token(), out, reader, "--pin", "24681357", "--puk", "87654321",
               "--new-admin-key", new_key, "--new-admin-alg", "aes192")
    assert rc == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    card_id = result["card_id"]
    assert registrar.cards() == [card_id] and set(result["slots"]) == {"9e", "9a"}
    assert set(result["changed"]) == {"pin", "puk", "management-key"}
    # keys were made on the card: the certificates certify the card's own public keys
    stored = registrar.card(card_id)
    assert stored is not None
    assert identity.load_certificate(stored.cert_pem).public_key() == blank.public_key(0x9E)
    contents = blank.object(OBJ_CERT_9A)
    assert contents is not None and blank.public_key(0x9A) is not None
    # PIN, PUK and management key were set
    assert (blank.pin, blank.puk) == (b"24681357", b"87654321")
    assert (blank.admin_alg, blank.admin_key) == (0x0A, bytes.fromhex(new_key))
    # the record holds certificates and public keys, never a private key
    record = out.read_text()
    assert "PRIVATE KEY" not in record and out.stat().st_mode & 0o077 == 0
    assert tomllib.loads(record)["card_id"] == card_id
    assert not list(tmp_path.glob("issued.toml.*"))  # no pending state left
    # our firmware reads and uses the card as any box would
    got_id, cert = firmware_reads(reader, registrar.ca)
    assert got_id == card_id and cert.public_key() == blank.public_key(0x9E)


@OPENSC
def test_opensc_reads_a_card_we_issued(registrar: Registrar, blank: VirtualCard, card_rig: CardRig,
                                       tmp_path: Path) -> None:
    reader = card_rig.readers[0]
    guid = "5e" * 16
    assert issue(registrar, registrar.token(), tmp_path / "r.toml", reader, "--guid", guid) == 0
    serial = tool("piv-tool", "--serial")  # OpenSC prints the GUID of the CHUID it read
    assert serial.returncode == 0, serial.stderr
    assert guid in serial.stdout.replace(":", "").replace(" ", "").lower()
    listing = tool("pkcs15-tool", "--list-certificates")
    assert listing.returncode == 0, listing.stderr
    assert "Card Authentication" in listing.stdout and "PIV Authentication" in listing.stdout
    pem = tool("pkcs15-tool", "--read-certificate", "04")  # OpenSC's id for slot 9E
    assert pem.returncode == 0, pem.stderr
    stored = registrar.card(guid)
    assert stored is not None
    assert x509.load_pem_x509_certificate(pem.stdout.encode()) == identity.load_certificate(stored.cert_pem)
    slots = tool("pkcs11-tool", "--module", PKCS11, "--list-slots")
    assert slots.returncode == 0 and guid in slots.stdout  # the token's serial is the CHUID's GUID
    # OpenSC signs with the 9A key behind the PIN, and the signature checks against our certificate
    digest = hashlib.sha256(b"ticket").digest()
    (tmp_path / "d").write_bytes(digest)
    sign = tool("pkcs11-tool", "--module", PKCS11, "--login", "--pin", "123456", "--sign", "-m", "ECDSA",
                "--id", "01", "-i", str(tmp_path / "d"), "-o", str(tmp_path / "s"),
                "--signature-format", "openssl")
    assert sign.returncode == 0, sign.stdout + sign.stderr
    pub_9a = blank.public_key(0x9A)
    assert pub_9a is not None
    pub_9a.verify((tmp_path / "s").read_bytes(), digest, ec.ECDSA(Prehashed(hashes.SHA256())))


@OPENSC
def test_a_key_opensc_generated_is_certified_and_used_by_firmware(registrar: Registrar, blank: VirtualCard,
                                                                  card_rig: CardRig, tmp_path: Path) -> None:
    reader = card_rig.readers[0]
    keyfile = tmp_path / "admin.key"
    keyfile.write_text(FACTORY)
    # "M": mutual authentication with the 9B key (OpenSC 0.23's external one, "A", fails its own length
    # check). piv-tool makes the key on the card, then fails to write the public key out (OpenSSL 3:
    # "invalid curve"); our tool recovers the public key from the card's signatures instead.
    gen = tool("piv-tool", "-A", "M:9B:03", "-G", "9E:11", env={"PIV_EXT_AUTH_KEY": str(keyfile)})
    made = blank.public_key(0x9E)
    assert made is not None, gen.stdout + gen.stderr  # OpenSC made it on the card
    out = tmp_path / "r.toml"
    assert issue(registrar, registrar.token(), out, reader, "--no-9a", "--keep-key", "9e") == 0
    assert blank.public_key(0x9E) == made  # our tool certified OpenSC's key, it did not make another
    card_id, cert = firmware_reads(reader, registrar.ca)
    assert cert.public_key() == made and registrar.cards() == [card_id]
    # the same with the public key given as a file (as a tool that writes it out would)
    pem = tmp_path / "9e.pem"
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    pem.write_bytes(made.public_bytes(serialization.Encoding.PEM, spki))
    blank.admin_verified = False
    assert issue(registrar, registrar.token(), tmp_path / "r2.toml", reader, "--no-9a",
                 "--public-key", f"9e={pem}", "--guid", "ab" * 16) == 0
    assert blank.public_key(0x9E) == made and "ab" * 16 in registrar.cards()


def test_wrong_management_key_spends_nothing(registrar: Registrar, blank: VirtualCard, card_rig: CardRig,
                                             tmp_path: Path, capsys: Any) -> None:
    tok = registrar.token()
    rc = issue(registrar, tok, tmp_path / "r.toml", card_rig.readers[0], "--admin-key", "22" * 24)
    assert rc == 1
    err = capsys.readouterr().err
    assert "management-key authentication" in err and len(err.strip().splitlines()) == 1
    assert not registrar.token_used(tok) and registrar.cards() == []
    assert blank.public_key(0x9E) is None and blank.public_key(0x9A) is None


def test_a_public_key_that_is_not_the_cards_is_refused(registrar: Registrar, blank: VirtualCard,
                                                       card_rig: CardRig, tmp_path: Path) -> None:
    other = tmp_path / "other.pem"
    other.write_bytes(identity.generate_key().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    tok = registrar.token()
    rc = issue(registrar, tok, tmp_path / "r.toml", card_rig.readers[0], "--no-9a",
               "--public-key", f"9e={other}")
    assert rc == 1 and not registrar.token_used(tok) and registrar.cards() == []


def test_an_interrupted_issuance_is_finished_by_running_it_again(registrar: Registrar, card_rig: CardRig,
                                                                 tmp_path: Path, capsys: Any) -> None:
    card = VirtualCard.blank()
    sock = card_rig.insert(card, 0)
    # pulled out of the reader as the 9A certificate is written: 9E is certified, 9A's key is on the card
    sock.yank_when(lambda c: c.ins == 0xDB and b"\x5f\xc1\x05" in c.data)
    reader = card_rig.readers[0]
    out = tmp_path / "r.toml"
    tok = registrar.token()
    assert issue(registrar, tok, out, reader, "--pin", "13572468") != 0
    assert registrar.token_used(tok) and len(registrar.cards()) == 1
    key_9e, key_9a = card.public_key(0x9E), card.public_key(0x9A)
    assert key_9e is not None and key_9a is not None and card.object(OBJ_CERT_9A) is None
    card_rig.remove(0)
    card_rig.insert(card, 0)
    capsys.readouterr()
    assert issue(registrar, tok, out, reader, "--pin", "13572468") == 0, capsys.readouterr().err
    assert (card.public_key(0x9E), card.public_key(0x9A)) == (key_9e, key_9a)  # the same keys, not new ones
    assert card.object(OBJ_CERT_9A) is not None and card.pin == b"13572468"
    assert len(registrar.cards()) == 1 and not list(tmp_path.glob("r.toml.*"))


def test_a_served_blank_card_is_issued_and_saved(registrar: Registrar, pcscd: Any, card_rig: CardRig,
                                                 tmp_path: Path) -> None:
    """The installer's practice run: `hil card serve --blank --save` + `card issue --reader`."""
    import signal
    import sys

    from roamline.hil.pcsc import wait_reader
    from roamline.provisioning.cardfile import load_cardfile

    reader = pcscd.readers[1]
    saved = tmp_path / "issued-card.toml"
    proc = subprocess.Popen([sys.executable, "-m", "roamline.cli.main", "hil", "card", "serve", "--blank",
                             "--save", str(saved), "--port", hex(reader.port)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and "blank card" in proc.stdout.readline()
        wait_reader(reader.name, True)
        assert issue(registrar, registrar.token(), tmp_path / "r.toml", reader.name) == 0
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0
        wait_reader(reader.name, False)
    finally:
        proc.kill()
        proc.wait()
    card = load_cardfile(saved)
    stored = registrar.card(card.card_id)
    assert stored is not None and stored.cert_pem.strip() == card.slot_9e.cert_pem.strip()
