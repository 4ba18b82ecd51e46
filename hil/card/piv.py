"""A virtual PIV card (NIST SP 800-73-4 subset) as a sans-I/O APDU processor.

``VirtualCard(cardfile).process(apdu) -> response`` handles one command APDU (short form, as vpcd
delivers it) and returns data + SW1 SW2. ``reset()`` is a power cycle: the PIN state, selection and any
pending chained command/response are lost; retry counters survive (they live in the card's memory).

Supported: SELECT (full or right-truncated PIV AID), GET DATA (CHUID 5FC102, certificates 5FC101/9E and
5FC105/9A, discovery 7E), GET RESPONSE (61xx chaining), command chaining (CLA 10), GENERAL AUTHENTICATE
(ECC P-256 signature, alg 11, keys 9E and 9A), VERIFY (PIV PIN, key reference 80), CHANGE REFERENCE
DATA (new PIN or PUK) and RESET RETRY COUNTER (unblock with the PUK).

Administration (SP 800-73-4 Part 2, with the card management key 9B, 3DES or AES as SP 800-78-4 lists):
GENERAL AUTHENTICATE with key 9B, both the external (``7C{81 00}`` challenge, ``7C{82 E(c)}``) and the
mutual (``7C{80 00}`` witness, ``7C{80 w 81 c}``) forms; GENERATE ASYMMETRIC KEY PAIR (INS 47, ECC P-256,
keys 9A/9E); PUT DATA (INS DB: CHUID, certificate objects); SET MANAGEMENT KEY (YubiKey's INS FF). A
card starts blank with ``VirtualCard.blank()`` (factory PIN/PUK/management key) and gives its state back
as a card file with ``export()``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from roamline.hil.card import tlv
from roamline.hil.errors import PeerError
from roamline.provisioning.cardfile import (
    AdminFields,
    CardFile,
    ChuidFields,
    PinFields,
    SlotKey,
    cert_pem,
    key_pem,
)

log = logging.getLogger(__name__)

PIV_AID = bytes.fromhex("a000000308000010000100")
TRUNCATED_AID = PIV_AID[:9]
ALG_ECC_P256 = 0x11
KEY_PIV_AUTH = 0x9A
KEY_CARD_AUTH = 0x9E
PIN_REF = 0x80
PUK_REF = 0x81
KEY_MANAGEMENT = 0x9B
ADMIN_ALGS = {"3des": 0x03, "aes128": 0x08, "aes192": 0x0A, "aes256": 0x0C}
ADMIN_KEY_LENGTHS = {0x03: 24, 0x08: 16, 0x0A: 24, 0x0C: 32}
FACTORY_ADMIN_KEY = bytes.fromhex("010203040506070801020304050607080102030405060708")
# A T=1 ATR with historical bytes "RoamlinePIV" and a correct TCK.
_ATR_BODY = bytes([0x3B, 0x8B, 0x80, 0x01]) + b"RoamlinePIV"
MAX_CHAIN = 4096  # longest chained command we accept

SW_OK = b"\x90\x00"
SW_WRONG_LENGTH = b"\x67\x00"
SW_SECURITY = b"\x69\x82"
SW_BLOCKED = b"\x69\x83"
SW_CONDITIONS = b"\x69\x85"
SW_LAST_IN_CHAIN = b"\x68\x83"
SW_WRONG_DATA = b"\x6a\x80"
SW_NOT_FOUND = b"\x6a\x82"
SW_WRONG_P1P2 = b"\x6a\x86"
SW_REF_NOT_FOUND = b"\x6a\x88"
SW_INS = b"\x6d\x00"
SW_CLA = b"\x6e\x00"


def _xor(data: bytes) -> int:
    x = 0
    for b in data:
        x ^= b
    return x


ATR = _ATR_BODY + bytes([_xor(_ATR_BODY[1:])])

OBJ_CHUID = 0x5FC102
OBJ_CERT_9E = 0x5FC101
OBJ_CERT_9A = 0x5FC105
OBJ_DISCOVERY = 0x7E


@dataclass(frozen=True, slots=True)
class Command:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes
    le: int | None  # None: absent; 0 means 256 (short APDU)


class BadApdu(PeerError, ValueError):
    """The reader sent a command APDU the card cannot parse."""


def parse_command(apdu: bytes) -> Command:
    """Short-form command APDU cases 1–4 (extended length is not supported by this card)."""
    if len(apdu) < 4:
        raise BadApdu("shorter than a header")
    cla, ins, p1, p2 = apdu[:4]
    body = apdu[4:]
    if not body:
        return Command(cla, ins, p1, p2, b"", None)
    if len(body) == 1:
        return Command(cla, ins, p1, p2, b"", body[0])
    lc = body[0]
    if lc == 0:
        raise BadApdu("extended length not supported")
    if len(body) == 1 + lc:
        return Command(cla, ins, p1, p2, body[1:], None)
    if len(body) == 2 + lc:
        return Command(cla, ins, p1, p2, body[1 : 1 + lc], body[-1])
    raise BadApdu("Lc does not match the data")


def encode_chuid(card: CardFile) -> bytes:
    c = card.chuid
    return (
        tlv.tlv(0x30, bytes.fromhex(c.fasc_n))
        + tlv.tlv(0x34, bytes.fromhex(c.guid))
        + tlv.tlv(0x35, c.expiry.encode("ascii"))
        + tlv.tlv(0x3E, b"")  # issuer asymmetric signature: empty (test cards are not signed)
        + tlv.tlv(0xFE, b"")
    )


def encode_cert_container(der: bytes) -> bytes:
    return tlv.tlv(0x70, der) + tlv.tlv(0x71, b"\x00") + tlv.tlv(0xFE, b"")


def application_property_template() -> bytes:
    algs = tlv.tlv(0xAC, tlv.tlv(0x80, bytes([ALG_ECC_P256])) + tlv.tlv(0x06, b"\x00"))
    body = (
        tlv.tlv(0x4F, PIV_AID[5:])  # the PIX (and version)
        + tlv.tlv(0x79, tlv.tlv(0x4F, PIV_AID[:5]))  # coexistent tag allocation authority
        + tlv.tlv(0x50, b"Roamline virtual PIV")
        + algs
    )
    return tlv.tlv(0x61, body)


def discovery_object() -> bytes:
    # PIN usage policy 40 00: the PIV Card Application PIN only.
    return tlv.tlv(0x7E, tlv.tlv(0x4F, PIV_AID) + tlv.tlv(0x5F2F, b"\x40\x00"))


def _pin_value(field: bytes) -> bytes | None:
    """A PIN field's digits (6–8 ASCII digits, FF-padded to 8), or None if malformed."""
    value = field.rstrip(b"\xff")
    if 6 <= len(value) <= 8 and value.isdigit() and value.isascii():
        return value
    return None


def _status_word(sw1: int, sw2: int) -> bytes:
    return bytes([sw1, sw2])


def _admin_cipher(alg: int, key: bytes) -> Cipher[modes.ECB]:
    if alg == 0x03:
        from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES

        return Cipher(TripleDES(key), modes.ECB())
    return Cipher(algorithms.AES(key), modes.ECB())


def _ecb(alg: int, key: bytes, block: bytes, *, decrypt: bool = False) -> bytes:
    c = _admin_cipher(alg, key)
    op = c.decryptor() if decrypt else c.encryptor()
    return op.update(block) + op.finalize()


class VirtualCard:
    """One card's state machine. Not thread-safe: the vpcd client calls it from one thread."""

    def __init__(self, card: CardFile | None = None, *,
                 on_command: Callable[[Command], None] | None = None) -> None:
        """A card personalised as ``card`` says; ``None`` (or :meth:`blank`) is a blank card from the
        factory: no keys, no certificates, no CHUID, PIN 123456, PUK 12345678, the factory 3DES key."""
        self.on_command = on_command  # test hook, called before each well-formed command is handled
        self.card = card  # the card file it was made from (None: made blank)
        pins = card.pin if card is not None else PinFields()
        admin = card.admin if card is not None else AdminFields()
        self.pin = pins.pin.encode("ascii")
        self.puk = pins.puk.encode("ascii")
        self.pin_tries_left = pins.pin_retries
        self.pin_max = max(pins.pin_retries, 1)
        self.puk_tries_left = pins.puk_retries
        self.puk_max = max(pins.puk_retries, 1)
        self.admin_alg = ADMIN_ALGS[admin.alg]
        self.admin_key = bytes.fromhex(admin.key)
        self._objects: dict[int, bytes] = {OBJ_DISCOVERY: discovery_object()}
        self._keys: dict[int, ec.EllipticCurvePrivateKey] = {}
        if card is not None:
            self._objects[OBJ_CHUID] = tlv.tlv(0x53, encode_chuid(card))
            self._objects[OBJ_CERT_9E] = tlv.tlv(0x53, encode_cert_container(card.slot_9e.cert_der()))
            self._keys[KEY_CARD_AUTH] = card.slot_9e.private_key()
            if card.slot_9a is not None:
                self._objects[OBJ_CERT_9A] = tlv.tlv(0x53, encode_cert_container(card.slot_9a.cert_der()))
                self._keys[KEY_PIV_AUTH] = card.slot_9a.private_key()
        self.reset()

    @classmethod
    def blank(cls, *, on_command: Callable[[Command], None] | None = None) -> VirtualCard:
        return cls(None, on_command=on_command)

    @property
    def atr(self) -> bytes:
        return ATR

    def reset(self) -> None:
        self.selected = False
        self.pin_verified = False
        self.admin_verified = False
        self._auth: tuple[str, bytes] | None = None  # a management-key challenge in progress
        self._pending = b""  # response bytes still to fetch with GET RESPONSE
        self._chain: tuple[int, int, int] | None = None  # INS P1 P2 of a command chain in progress
        self._chain_data = b""

    # -- what the card holds (for tests and `hil card serve --save`) ----------------------------------

    def public_key(self, slot: int) -> ec.EllipticCurvePublicKey | None:
        key = self._keys.get(slot)
        return key.public_key() if key is not None else None

    def object(self, tag: int) -> bytes | None:
        """The stored value of data object ``tag`` (inside its 53 container), or None."""
        raw = self._objects.get(tag)
        if raw is None:
            return None
        items = tlv.parse(raw)
        return items[0][1] if items and items[0][0] == 0x53 else raw

    def export(self) -> CardFile:
        """The card's state as a card file (needs a CHUID and a certified 9E key)."""
        chuid_raw = self.object(OBJ_CHUID)
        if chuid_raw is None:
            raise PeerError("the card has no CHUID yet")
        chuid = dict(tlv.parse(chuid_raw))
        slots: dict[int, SlotKey] = {}
        for slot, obj in ((KEY_CARD_AUTH, OBJ_CERT_9E), (KEY_PIV_AUTH, OBJ_CERT_9A)):
            contents, key = self.object(obj), self._keys.get(slot)
            if contents is None or key is None:
                continue
            der = dict(tlv.parse(contents)).get(0x70, b"")
            cert = x509.load_der_x509_certificate(der)
            slots[slot] = SlotKey(key_pem=key_pem(key), cert_pem=cert_pem(cert))
        if KEY_CARD_AUTH not in slots:
            raise PeerError("the card has no certified 9E key yet")
        alg = next(name for name, value in ADMIN_ALGS.items() if value == self.admin_alg)
        return CardFile(
            chuid=ChuidFields(fasc_n=chuid.get(0x30, b"").hex(), guid=chuid.get(0x34, b"").hex(),
                              expiry=chuid.get(0x35, b"20991231").decode("ascii", "replace")),
            slot_9e=slots[KEY_CARD_AUTH],
            slot_9a=slots.get(KEY_PIV_AUTH),
            pin=PinFields(pin=self.pin.decode(), puk=self.puk.decode(), pin_retries=self.pin_max,
                          puk_retries=self.puk_max),
            admin=AdminFields(alg=alg, key=self.admin_key.hex()),
        )

    # -- dispatch --------------------------------------------------------------------------------------

    def process(self, apdu: bytes) -> bytes:
        try:
            cmd = parse_command(apdu)
        except BadApdu:
            self._pending = b""
            return SW_WRONG_LENGTH
        if self.on_command is not None:
            self.on_command(cmd)
        if cmd.ins == 0xC0 and cmd.cla == 0x00:
            return self._get_response(cmd)
        self._pending = b""
        if cmd.cla not in (0x00, 0x10):
            self._chain = None
            return SW_CLA
        if self._chain is not None and self._chain != (cmd.ins, cmd.p1, cmd.p2):
            self._chain = None
            self._chain_data = b""
            return SW_LAST_IN_CHAIN
        if cmd.cla == 0x10:
            if len(self._chain_data) + len(cmd.data) > MAX_CHAIN:
                self._chain, self._chain_data = None, b""
                return SW_WRONG_LENGTH
            self._chain = (cmd.ins, cmd.p1, cmd.p2)
            self._chain_data += cmd.data
            return SW_OK
        if self._chain is not None:
            cmd = Command(0x00, cmd.ins, cmd.p1, cmd.p2, self._chain_data + cmd.data, cmd.le)
            self._chain, self._chain_data = None, b""
        if cmd.ins != 0x87:
            self._auth = None  # a management-key challenge is answered by the very next command
        handler = self._handlers.get(cmd.ins)
        if handler is None:
            return SW_INS
        data, sw = handler(self, cmd)
        return self._respond(data, sw, cmd.le)

    def _respond(self, data: bytes, sw: bytes, le: int | None) -> bytes:
        if sw != SW_OK or not data:
            return data + sw
        chunk = le or 256
        if len(data) <= chunk:
            return data + SW_OK
        self._pending = data[chunk:]
        return data[:chunk] + self._more()

    def _more(self) -> bytes:
        n = len(self._pending)
        return _status_word(0x61, n if n < 256 else 0)

    def _get_response(self, cmd: Command) -> bytes:
        if cmd.p1 or cmd.p2:
            return SW_WRONG_P1P2
        if not self._pending:
            return SW_CONDITIONS
        want = cmd.le or 256
        out, self._pending = self._pending[:want], self._pending[want:]
        return out + (self._more() if self._pending else SW_OK)

    # -- commands --------------------------------------------------------------------------------------

    def _select(self, cmd: Command) -> tuple[bytes, bytes]:
        if cmd.p1 != 0x04 or cmd.p2 != 0x00:
            return b"", SW_WRONG_P1P2
        if not cmd.data:
            return b"", SW_WRONG_LENGTH
        if not (len(TRUNCATED_AID) <= len(cmd.data) <= len(PIV_AID) and PIV_AID.startswith(cmd.data)):
            return b"", SW_NOT_FOUND
        self.selected = True
        return application_property_template(), SW_OK

    def _get_data(self, cmd: Command) -> tuple[bytes, bytes]:
        if not self.selected:
            return b"", SW_CONDITIONS
        if (cmd.p1, cmd.p2) != (0x3F, 0xFF):
            return b"", SW_WRONG_P1P2
        if not cmd.data:
            return b"", SW_WRONG_LENGTH
        try:
            items = tlv.parse(cmd.data)
        except tlv.TlvFormatError:
            return b"", SW_WRONG_DATA
        if len(items) != 1 or items[0][0] != 0x5C or not 1 <= len(items[0][1]) <= 3:
            return b"", SW_WRONG_DATA
        obj = self._objects.get(int.from_bytes(items[0][1], "big"))
        if obj is None:
            return b"", SW_NOT_FOUND
        return obj, SW_OK

    def _verify(self, cmd: Command) -> tuple[bytes, bytes]:
        if not self.selected:
            return b"", SW_CONDITIONS
        if cmd.p1 == 0xFF and cmd.p2 == PIN_REF and not cmd.data:
            self.pin_verified = False  # SP 800-73-4: P1=FF resets the PIN's security status
            return b"", SW_OK
        if cmd.p1 != 0x00:
            return b"", SW_WRONG_P1P2
        if cmd.p2 != PIN_REF:
            return b"", SW_REF_NOT_FOUND
        if not cmd.data:  # status query
            if self.pin_verified:
                return b"", SW_OK
            return b"", self._tries_sw()
        if len(cmd.data) != 8:
            return b"", SW_WRONG_LENGTH
        if self.pin_tries_left == 0:
            return b"", SW_BLOCKED
        offered = cmd.data.rstrip(b"\xff")
        if offered == self.pin:
            self.pin_tries_left = self.pin_max
            self.pin_verified = True
            return b"", SW_OK
        self.pin_tries_left -= 1
        self.pin_verified = False
        log.info("card-wrong-pin", extra={"fields": {"tries_left": self.pin_tries_left}})
        return b"", _status_word(0x63, 0xC0 | self.pin_tries_left)

    def _pin_pair_refused(self, cmd: Command, refs: tuple[int, ...] = (PIN_REF,)) -> bytes | None:
        """The checks CHANGE REFERENCE DATA and RESET RETRY COUNTER share: a status word, or None."""
        if not self.selected:
            return SW_CONDITIONS
        if cmd.p1 != 0x00:
            return SW_WRONG_P1P2
        if cmd.p2 not in refs:
            return SW_REF_NOT_FOUND
        if len(cmd.data) != 16:
            return SW_WRONG_LENGTH
        return None

    def _change_reference_data(self, cmd: Command) -> tuple[bytes, bytes]:
        """INS 24: current PIN (8, FF-padded) + new PIN (8); or, for reference 81, the PUK likewise."""
        if (refused := self._pin_pair_refused(cmd, (PIN_REF, PUK_REF))) is not None:
            return b"", refused
        if cmd.p2 == PUK_REF:
            return self._change_puk(cmd)
        if self.pin_tries_left == 0:
            return b"", SW_BLOCKED
        new = _pin_value(cmd.data[8:])
        if cmd.data[:8].rstrip(b"\xff") != self.pin:
            self.pin_tries_left -= 1
            self.pin_verified = False
            return b"", _status_word(0x63, 0xC0 | self.pin_tries_left)
        if new is None:
            return b"", SW_WRONG_DATA
        self.pin, self.pin_tries_left = new, self.pin_max
        return b"", SW_OK

    def _change_puk(self, cmd: Command) -> tuple[bytes, bytes]:
        if self.puk_tries_left == 0:
            return b"", SW_BLOCKED
        new = _pin_value(cmd.data[8:])
        if cmd.data[:8].rstrip(b"\xff") != self.puk:
            self.puk_tries_left -= 1
            return b"", _status_word(0x63, 0xC0 | self.puk_tries_left)
        if new is None:
            return b"", SW_WRONG_DATA
        self.puk, self.puk_tries_left = new, self.puk_max
        return b"", SW_OK

    def _reset_retry_counter(self, cmd: Command) -> tuple[bytes, bytes]:
        """INS 2C: PUK (8) + new PIN (8) unblocks the PIN."""
        if (refused := self._pin_pair_refused(cmd)) is not None:
            return b"", refused
        if self.puk_tries_left == 0:
            return b"", SW_BLOCKED
        new = _pin_value(cmd.data[8:])
        if cmd.data[:8].rstrip(b"\xff") != self.puk:
            self.puk_tries_left -= 1
            return b"", _status_word(0x63, 0xC0 | self.puk_tries_left)
        if new is None:
            return b"", SW_WRONG_DATA
        self.pin, self.pin_tries_left, self.pin_verified = new, self.pin_max, False
        self.puk_tries_left = self.puk_max
        return b"", SW_OK

    def _tries_sw(self) -> bytes:
        if self.pin_tries_left == 0:
            return SW_BLOCKED
        return _status_word(0x63, 0xC0 | self.pin_tries_left)

    def _general_authenticate(self, cmd: Command) -> tuple[bytes, bytes]:
        if not self.selected:
            return b"", SW_CONDITIONS
        if cmd.p2 != KEY_MANAGEMENT:
            self._auth = None
            if cmd.p1 != ALG_ECC_P256 or cmd.p2 not in (KEY_CARD_AUTH, KEY_PIV_AUTH):
                return b"", SW_WRONG_P1P2
            key = self._keys.get(cmd.p2)
            if key is None:
                return b"", SW_REF_NOT_FOUND
            if cmd.p2 == KEY_PIV_AUTH and not self.pin_verified:
                return b"", SW_SECURITY
        try:
            outer = tlv.parse(cmd.data)
            if len(outer) != 1 or outer[0][0] != 0x7C:
                raise tlv.TlvFormatError("no dynamic authentication template")
            inner = dict(tlv.parse(outer[0][1]))
        except tlv.TlvFormatError:
            self._auth = None
            return b"", SW_WRONG_DATA
        if cmd.p2 == KEY_MANAGEMENT:
            return self._management_authenticate(cmd, inner)
        if inner.get(0x82) != b"" or len(inner.get(0x81, b"")) != 32:
            return b"", SW_WRONG_DATA
        sig = self._keys[cmd.p2].sign(inner[0x81], ec.ECDSA(Prehashed(hashes.SHA256())))
        return tlv.tlv(0x7C, tlv.tlv(0x82, sig)), SW_OK

    def _management_authenticate(self, cmd: Command, inner: dict[int, bytes]) -> tuple[bytes, bytes]:
        """Key 9B: external (81 00 → challenge; 82 E(challenge)) or mutual (80 00 → E(witness);
        80 witness 81 challenge → 82 E(challenge)) authentication of the client."""
        pending, self._auth = self._auth, None
        if cmd.p1 != self.admin_alg:
            return b"", SW_WRONG_P1P2  # the key is of another algorithm
        block = 8 if self.admin_alg == 0x03 else 16
        alg, key = self.admin_alg, self.admin_key
        if inner.get(0x80) == b"" and set(inner) == {0x80}:  # mutual, step 1: witness request
            witness = os.urandom(block)
            self._auth = ("witness", witness)
            return tlv.tlv(0x7C, tlv.tlv(0x80, _ecb(alg, key, witness))), SW_OK
        if inner.get(0x81) == b"" and set(inner) == {0x81}:  # external, step 1: challenge request
            challenge = os.urandom(block)
            self._auth = ("challenge", challenge)
            return tlv.tlv(0x7C, tlv.tlv(0x81, challenge)), SW_OK
        if set(inner) == {0x80, 0x81} and pending is not None and pending[0] == "witness":
            if inner[0x80] != pending[1] or len(inner[0x81]) != block:
                self.admin_verified = False
                log.info("card-admin-auth-failed", extra={"fields": {"mode": "mutual"}})
                return b"", SW_SECURITY
            self.admin_verified = True
            return tlv.tlv(0x7C, tlv.tlv(0x82, _ecb(alg, key, inner[0x81]))), SW_OK
        if set(inner) == {0x82} and pending is not None and pending[0] == "challenge":
            if len(inner[0x82]) != block or _ecb(alg, key, inner[0x82], decrypt=True) != pending[1]:
                self.admin_verified = False
                log.info("card-admin-auth-failed", extra={"fields": {"mode": "external"}})
                return b"", SW_SECURITY
            self.admin_verified = True
            return b"", SW_OK
        return b"", SW_WRONG_DATA if pending is None else SW_SECURITY

    def _generate(self, cmd: Command) -> tuple[bytes, bytes]:
        """INS 47: a new key pair in slot P2; the answer is 7F49{86 point}."""
        if not self.selected:
            return b"", SW_CONDITIONS
        if cmd.p1 != 0x00 or cmd.p2 not in (KEY_CARD_AUTH, KEY_PIV_AUTH):
            return b"", SW_WRONG_P1P2
        if not self.admin_verified:
            return b"", SW_SECURITY
        try:
            items = tlv.parse(cmd.data)
            if len(items) != 1 or items[0][0] != 0xAC:
                raise tlv.TlvFormatError("no control reference template")
            params = dict(tlv.parse(items[0][1]))
        except tlv.TlvFormatError:
            return b"", SW_WRONG_DATA
        if params.get(0x80) != bytes([ALG_ECC_P256]):
            return b"", SW_WRONG_DATA  # only ECC P-256 keys are made here
        key = ec.generate_private_key(ec.SECP256R1())
        self._keys[cmd.p2] = key
        point = key.public_key().public_bytes(serialization.Encoding.X962,
                                              serialization.PublicFormat.UncompressedPoint)
        log.info("card-key-generated", extra={"fields": {"slot": f"{cmd.p2:02X}"}})
        return tlv.tlv(0x7F49, tlv.tlv(0x86, point)), SW_OK

    def _put_data(self, cmd: Command) -> tuple[bytes, bytes]:
        """INS DB: 5C{tag} 53{contents} stores a data object (CHUID, certificates)."""
        if not self.selected:
            return b"", SW_CONDITIONS
        if (cmd.p1, cmd.p2) != (0x3F, 0xFF):
            return b"", SW_WRONG_P1P2
        if not self.admin_verified:
            return b"", SW_SECURITY
        try:
            items = tlv.parse(cmd.data)
        except tlv.TlvFormatError:
            return b"", SW_WRONG_DATA
        if len(items) != 2 or items[0][0] != 0x5C or items[1][0] != 0x53 or not 1 <= len(items[0][1]) <= 3:
            return b"", SW_WRONG_DATA
        tag = int.from_bytes(items[0][1], "big")
        if tag not in (OBJ_CHUID, OBJ_CERT_9E, OBJ_CERT_9A):
            return b"", SW_NOT_FOUND  # the objects this card has room for
        self._objects[tag] = tlv.tlv(0x53, items[1][1])
        log.info("card-object-written", extra={"fields": {"tag": f"{tag:X}", "bytes": len(items[1][1])}})
        return b"", SW_OK

    def _set_management_key(self, cmd: Command) -> tuple[bytes, bytes]:
        """YubiKey's INS FF (P1 FF, P2 FF/FE): alg 9B len key replaces the management key."""
        if not self.selected:
            return b"", SW_CONDITIONS
        if cmd.p1 != 0xFF or cmd.p2 not in (0xFF, 0xFE):
            return b"", SW_WRONG_P1P2
        if not self.admin_verified:
            return b"", SW_SECURITY
        d = cmd.data
        if len(d) < 3 or d[1] != KEY_MANAGEMENT or d[2] != len(d) - 3 or ADMIN_KEY_LENGTHS.get(d[0]) != d[2]:
            return b"", SW_WRONG_DATA
        self.admin_alg, self.admin_key = d[0], bytes(d[3:])
        log.info("card-admin-key-changed", extra={"fields": {"alg": f"{d[0]:02X}"}})
        return b"", SW_OK

    _handlers: ClassVar[dict[int, Callable[[VirtualCard, Command], tuple[bytes, bytes]]]] = {
        0xA4: _select,
        0xCB: _get_data,
        0x20: _verify,
        0x87: _general_authenticate,
        0x24: _change_reference_data,
        0x2C: _reset_retry_counter,
        0x47: _generate,
        0xDB: _put_data,
        0xFF: _set_management_key,
    }
