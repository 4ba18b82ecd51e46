"""PIV card administration (personalisation), sans-I/O: the commands an issuer sends, the answers it parses.

NIST SP 800-73-4 Part 2 (GENERAL AUTHENTICATE with the card management key 9B, GENERATE ASYMMETRIC KEY
PAIR, PUT DATA, CHANGE REFERENCE DATA) and SP 800-78-4 (management-key algorithms: 3DES 03, AES-128 08,
AES-192 0A, AES-256 0C). Every function here builds an :class:`~roamline.firmware.card.apdu.Command` or
parses the data of a :class:`~roamline.firmware.card.apdu.Response`; nothing moves bytes.
:class:`PivAdmin` runs them over a blocking ``transmit`` the way :class:`PivClient` does.

Management-key authentication is *mutual* (SP 800-73-4 Part 2 Appendix A.1, "mutual authentication of the
client application and the card"), as :class:`MutualAuthentication`:

1. ``00 87 alg 9B  7C{80 00}``          — the card answers ``7C{80 E(witness)}``;
2. ``00 87 alg 9B  7C{80 witness 81 challenge}`` — the card answers ``7C{82 E(challenge)}``,
   which proves the card holds the key too (a card that does not is refused, CardAuthenticationFailed).

Changing the management key is not in SP 800-73-4; :func:`set_management_key_command` is the command
YubiKeys (and many PIV applets) implement: ``00 FF FF FF  alg 9B len key`` (P2 FE: touch required).
"""

from __future__ import annotations

import datetime as dt
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from roamline.firmware.card import tlv
from roamline.firmware.card.apdu import Command
from roamline.firmware.card.errors import CardError, MalformedResponse
from roamline.firmware.card.piv import ALG_ECC_P256, CERT_OBJECTS, OBJ_CHUID, PIN_REF, PivClient
from roamline.firmware.errors import UsageError

KEY_MANAGEMENT = 0x9B
PUK_REF = 0x81
ALG_3DES = 0x03
ALG_AES128 = 0x08
ALG_AES192 = 0x0A
ALG_AES256 = 0x0C
KEY_LENGTHS = {ALG_3DES: 24, ALG_AES128: 16, ALG_AES192: 24, ALG_AES256: 32}
ALG_NAMES = {"3des": ALG_3DES, "aes128": ALG_AES128, "aes192": ALG_AES192, "aes256": ALG_AES256}
# The well-known factory management key of test cards and YubiKeys (3DES; AES-192 on YubiKey 5.7+).
DEFAULT_MANAGEMENT_KEY = bytes.fromhex("010203040506070801020304050607080102030405060708")
DEFAULT_PIN = "123456"
DEFAULT_PUK = "12345678"
GENERATABLE = (0x9A, 0x9C, 0x9D, 0x9E)
P256_POINT = 65  # 04 || X || Y


class CardAuthenticationFailed(CardError):
    """The card's answer to the management-key challenge is wrong: it does not hold our key."""


@dataclass(frozen=True, slots=True)
class ManagementKey:
    """The card management key (key reference 9B): its algorithm identifier and its bytes."""

    alg: int
    key: bytes

    def __post_init__(self) -> None:
        want = KEY_LENGTHS.get(self.alg)
        if want is None:
            raise UsageError(f"management key algorithm {self.alg:02X} is not 03, 08, 0A or 0C")
        if len(self.key) != want:
            raise UsageError(f"a management key for algorithm {self.alg:02X} is {want} bytes, "
                             f"not {len(self.key)}")

    @classmethod
    def parse(cls, hex_text: str, alg: str = "3des") -> ManagementKey:
        """From hex digits (colons, spaces allowed) and an algorithm name (3des, aes128, aes192, aes256)."""
        if alg not in ALG_NAMES:
            raise UsageError(f"management key algorithm must be one of {', '.join(ALG_NAMES)}, not {alg!r}")
        text = hex_text.replace(":", "").replace(" ", "")
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise UsageError("a management key is hex digits") from None
        return cls(ALG_NAMES[alg], raw)

    @property
    def block(self) -> int:
        return 8 if self.alg == ALG_3DES else 16

    def _cipher(self) -> object:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        if self.alg == ALG_3DES:
            from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES

            return Cipher(TripleDES(self.key), modes.ECB())
        return Cipher(algorithms.AES(self.key), modes.ECB())

    def encrypt(self, block: bytes) -> bytes:
        if len(block) != self.block:
            raise UsageError(f"one {self.block}-byte block expected")
        enc = self._cipher().encryptor()  # type: ignore[attr-defined]
        return bytes(enc.update(block) + enc.finalize())

    def decrypt(self, block: bytes) -> bytes:
        if len(block) != self.block:
            raise MalformedResponse(f"management-key cryptogram of {len(block)} bytes, not {self.block}")
        dec = self._cipher().decryptor()  # type: ignore[attr-defined]
        return bytes(dec.update(block) + dec.finalize())


def _template(data: bytes, where: str) -> list[tlv.Tlv]:
    """The children of the single 7C dynamic authentication template in ``data``."""
    outer = tlv.parse_all(data)
    if len(outer) != 1 or outer[0].tag != 0x7C:
        raise MalformedResponse(f"{where}: answer is not one 7C template")
    return outer[0].children()


class MutualAuthentication:
    """Management-key mutual authentication as two commands (sans-I/O; see the module docstring).

    ``request()`` → send, feed the answer's data to ``respond(data)`` → send that, feed its answer's data
    to ``verify(data)``. ``random`` makes the client's challenge (os.urandom unless a test fixes it).
    """

    def __init__(self, key: ManagementKey, random: Callable[[int], bytes] = os.urandom) -> None:
        self.key = key
        self._random = random
        self._challenge: bytes | None = None
        self.done = False

    def request(self) -> Command:
        return Command(0x00, 0x87, self.key.alg, KEY_MANAGEMENT, tlv.encode(0x7C, tlv.encode(0x80, b"")),
                       le=256)

    def respond(self, data: bytes) -> Command:
        items = _template(data, "management-key witness")
        witness = self.key.decrypt(tlv.require(items, 0x80, "management-key witness"))
        self._challenge = self._random(self.key.block)
        body = tlv.encode(0x80, witness) + tlv.encode(0x81, self._challenge)
        return Command(0x00, 0x87, self.key.alg, KEY_MANAGEMENT, tlv.encode(0x7C, body), le=256)

    def verify(self, data: bytes) -> None:
        if self._challenge is None:
            raise UsageError("verify() before respond()")
        items = _template(data, "management-key response")
        answer = tlv.require(items, 0x82, "management-key response")
        if not hmac.compare_digest(self.key.decrypt(answer), self._challenge):
            raise CardAuthenticationFailed("the card does not hold our management key (wrong answer)")
        self.done = True


def generate_key_command(slot: int, alg: int = ALG_ECC_P256) -> Command:
    """GENERATE ASYMMETRIC KEY PAIR (INS 47) in ``slot``; only ECC P-256 (11) is asked for here."""
    if slot not in GENERATABLE:
        raise UsageError(f"no key slot {slot:02X} to generate in (9A, 9C, 9D, 9E)")
    if alg != ALG_ECC_P256:
        raise UsageError("only ECC P-256 keys (algorithm 11) are generated")
    return Command(0x00, 0x47, 0x00, slot, tlv.encode(0xAC, tlv.encode(0x80, bytes([alg]))), le=256)


def parse_generated_key(data: bytes) -> ec.EllipticCurvePublicKey:
    """The public key in a GENERATE answer, ``7F49{86 04||X||Y}`` on P-256; else MalformedResponse."""
    outer = tlv.parse_all(data)
    if len(outer) != 1 or outer[0].tag != 0x7F49:
        raise MalformedResponse("GENERATE answer is not one 7F49 public-key template")
    point = tlv.require(outer[0].children(), 0x86, "public-key template")
    if len(point) != P256_POINT or point[0] != 0x04:
        raise MalformedResponse(f"EC point of {len(point)} bytes is not an uncompressed P-256 point")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise MalformedResponse("GENERATE answer's point is not on P-256") from None


def put_data_command(tag: int, contents: bytes) -> Command:
    """PUT DATA (INS DB) of object ``tag``: ``5C{tag} 53{contents}``; long data goes by command chaining."""
    tag_bytes = tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")
    return Command(0x00, 0xDB, 0x3F, 0xFF, tlv.encode(0x5C, tag_bytes) + tlv.encode(0x53, contents))


def certificate_contents(der: bytes) -> bytes:
    """An X.509 certificate object's contents (SP 800-73-4 Table 10..): 70 cert, 71 CertInfo 00, FE LRC."""
    if not der or der[0] != 0x30:
        raise UsageError("a certificate is a DER SEQUENCE")
    return tlv.encode(0x70, der) + tlv.encode(0x71, b"\x00") + tlv.encode(0xFE, b"")


def put_certificate_command(slot: int, der: bytes) -> Command:
    if slot not in CERT_OBJECTS:
        raise UsageError(f"no certificate object for slot {slot:02X} (9A or 9E)")
    return put_data_command(CERT_OBJECTS[slot], certificate_contents(der))


def chuid_contents(fasc_n: bytes, guid: bytes, expiry: dt.date) -> bytes:
    """CHUID contents (SP 800-73-4 Table 9): FASC-N 30, GUID 34, expiry 35 (YYYYMMDD), issuer signature 3E
    (empty: the card is not signed by a PIV issuer), error detection FE."""
    if len(guid) != 16:
        raise UsageError("a CHUID GUID is 16 bytes")
    if len(fasc_n) != 25:
        raise UsageError("a FASC-N is 25 bytes")
    when = expiry.strftime("%Y%m%d").encode()
    return (tlv.encode(0x30, fasc_n) + tlv.encode(0x34, guid) + tlv.encode(0x35, when)
            + tlv.encode(0x3E, b"") + tlv.encode(0xFE, b""))


def _pin_field(value: str, what: str) -> bytes:
    if not (6 <= len(value) <= 8 and value.isascii() and value.isdigit()):
        raise UsageError(f"a PIV {what} is 6-8 digits")
    return value.encode("ascii").ljust(8, b"\xff")


def change_reference_command(ref: int, old: str, new: str) -> Command:
    """CHANGE REFERENCE DATA (INS 24) of the PIN (80) or the PUK (81)."""
    if ref not in (PIN_REF, PUK_REF):
        raise UsageError("reference data is the PIN (80) or the PUK (81)")
    what = "PIN" if ref == PIN_REF else "PUK"
    return Command(0x00, 0x24, 0x00, ref, _pin_field(old, what) + _pin_field(new, what))


def set_management_key_command(key: ManagementKey, *, touch: bool = False) -> Command:
    """SET MANAGEMENT KEY (YubiKey's INS FF, P1 FF, P2 FF or FE for touch): alg 9B len key."""
    body = bytes([key.alg, KEY_MANAGEMENT, len(key.key)]) + key.key
    return Command(0x00, 0xFF, 0xFF, 0xFE if touch else 0xFF, body)


class PivAdmin(PivClient):
    """A PIV session that can also personalise the card (after ``authenticate``)."""

    def authenticate(self, key: ManagementKey, random: Callable[[int], bytes] = os.urandom) -> None:
        """Mutual authentication with the management key; raises CardAuthenticationFailed or the card's SW."""
        auth = MutualAuthentication(key, random)
        witness = self._run(auth.request())
        auth.verify(self._run(auth.respond(witness)))

    def generate_key(self, slot: int) -> ec.EllipticCurvePublicKey:
        """A new P-256 key pair made on the card in ``slot`` (the private key never leaves it)."""
        return parse_generated_key(self._run(generate_key_command(slot)))

    def put_certificate(self, slot: int, der: bytes) -> None:
        self._run(put_certificate_command(slot, der))

    def put_chuid(self, fasc_n: bytes, guid: bytes, expiry: dt.date) -> None:
        self._run(put_data_command(OBJ_CHUID, chuid_contents(fasc_n, guid, expiry)))

    def change_puk(self, old: str, new: str) -> None:
        self._run(change_reference_command(PUK_REF, old, new))

    def set_management_key(self, key: ManagementKey) -> None:
        self._run(set_management_key_command(key))
