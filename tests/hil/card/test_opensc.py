"""OpenSC (an independent PIV implementation) reads and uses the virtual card through the real pcscd:
proof that the card speaks standard PIV, not just our own client's dialect."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from roamline.hil.card.issue import TestCa
from roamline.hil.pytest_pcsc import CardRig
from roamline.provisioning.cardfile import CardFile

pytestmark = [
    pytest.mark.pcscd,
    pytest.mark.skipif(shutil.which("pkcs15-tool") is None, reason="OpenSC not installed"),
]
PKCS11 = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"


def tool(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


@pytest.fixture
def card(card_rig: CardRig, card_ca: TestCa) -> CardFile:
    cf = card_ca.make_cardfile(big_cert=True)
    card_rig.insert(cf, 0)
    return cf


def test_identified_as_piv(card: CardFile) -> None:
    out = tool("opensc-tool", "--name")
    assert out.returncode == 0, out.stderr
    assert "Personal Identity Verification" in out.stdout


def test_pkcs15_lists_and_reads_certificates(card: CardFile) -> None:
    listing = tool("pkcs15-tool", "--list-certificates")
    assert listing.returncode == 0, listing.stderr
    assert "Card Authentication" in listing.stdout and "PIV Authentication" in listing.stdout
    pem = tool("pkcs15-tool", "--read-certificate", "04")  # OpenSC's id for slot 9E
    assert pem.returncode == 0, pem.stderr
    assert x509.load_pem_x509_certificate(pem.stdout.encode()) == card.slot_9e.certificate()


def test_apdus_via_opensc_tool(card: CardFile, card_rig: CardRig) -> None:
    out = tool(
        "opensc-tool", "--reader", card_rig.readers[0],
        "-s", "00:a4:04:00:09:a0:00:00:03:08:00:00:10:00",
        "-s", "00:cb:3f:ff:05:5c:03:5f:c1:02:00",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("SW1=0x90, SW2=0x00") == 2
    assert "34 10" in out.stdout and card.chuid.expiry in out.stdout  # GUID tag and expiry of the CHUID


def test_pkcs11_token_serial_is_card_id(card: CardFile) -> None:
    out = tool("pkcs11-tool", "--module", PKCS11, "--list-slots")
    assert out.returncode == 0, out.stderr
    assert card.card_id in out.stdout


def test_pkcs11_sign_with_pin(card: CardFile, tmp_path: Path) -> None:
    digest = hashlib.sha256(b"ticket").digest()
    (tmp_path / "d").write_bytes(digest)
    args = ["pkcs11-tool", "--module", PKCS11, "--login", "--sign", "-m", "ECDSA", "--id", "01"]
    args += ["-i", str(tmp_path / "d"), "-o", str(tmp_path / "s"), "--signature-format", "openssl"]
    bad = tool(*args, "--pin", "654321")
    assert bad.returncode != 0 and "PIN_INCORRECT" in bad.stdout + bad.stderr
    ok = tool(*args, "--pin", "123456")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert card.slot_9a is not None
    pub = card.slot_9a.certificate().public_key()
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    pub.verify((tmp_path / "s").read_bytes(), digest, ec.ECDSA(Prehashed(hashes.SHA256())))
