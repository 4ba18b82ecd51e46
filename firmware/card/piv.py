"""PIV client (NIST SP 800-73-4 subset) over a blocking ``transmit(apdu: bytes) -> bytes`` function.

The transport (a PC/SC connection from reader.py, or anything else) only moves bytes; chaining, TLV
decoding and status words are handled here and in apdu/tlv.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from roamline.firmware.card import tlv
from roamline.firmware.card.apdu import Command, Transmit, check, transceive
from roamline.firmware.card.errors import MalformedResponse, PinBlocked, WrongPin
from roamline.firmware.errors import UsageError

PIV_AID = bytes.fromhex("a000000308000010000100")
ALG_ECC_P256 = 0x11
SLOT_PIV_AUTH = 0x9A  # PIV Authentication: needs the PIN once per insertion
SLOT_CARD_AUTH = 0x9E  # Card Authentication: no PIN
PIN_REF = 0x80
OBJ_CHUID = 0x5FC102
CERT_OBJECTS = {SLOT_PIV_AUTH: 0x5FC105, SLOT_CARD_AUTH: 0x5FC101}
MAX_CERT = 8192  # decompressed certificate bound


@dataclass(frozen=True, slots=True)
class Chuid:
    fasc_n: bytes
    guid: bytes
    expiry: str | None  # YYYYMMDD as on the card

    @property
    def card_id(self) -> str:
        """The Roamline card id: the GUID as 32 lowercase hex digits."""
        return self.guid.hex()


@dataclass(frozen=True, slots=True)
class PivApplication:
    """What SELECT answered (the application property template)."""

    aid: bytes  # as reported (PIX, possibly with the RID from tag 79)
    label: str | None
    algorithms: tuple[int, ...]


def _slot(slot: int | str) -> int:
    value = int(slot, 16) if isinstance(slot, str) else slot
    if value not in CERT_OBJECTS:
        raise UsageError(f"unsupported PIV slot {value:X} (9A or 9E)")
    return value


def _pin_field(pin: str) -> bytes:
    if not (6 <= len(pin) <= 8 and pin.isdigit() and pin.isascii()):
        raise UsageError("a PIV PIN is 6-8 digits")
    return pin.encode("ascii").ljust(8, b"\xff")


class PivClient:
    """A PIV card session. Methods raise CardStatusError subclasses for error status words and
    MalformedResponse for answers that do not parse; the transport raises its own errors (e.g.
    CardRemovedError from reader.py)."""

    def __init__(self, transmit: Transmit, *, max_data: int = 255) -> None:
        self._transmit = transmit
        self._max_data = max_data

    def _run(self, command: Command) -> bytes:
        return check(transceive(self._transmit, command, max_data=self._max_data))

    def select(self) -> PivApplication:
        data = self._run(Command(0x00, 0xA4, 0x04, 0x00, PIV_AID, le=256))
        if not data:  # some cards answer SELECT with no template
            return PivApplication(PIV_AID, None, ())
        items = tlv.parse_all(data)
        apt = tlv.find(items, 0x61)
        if apt is None:
            raise MalformedResponse("SELECT answer is not an application property template")
        inner = apt.children()
        aid = tlv.require(inner, 0x4F, "APT")
        label_raw = tlv.find(inner, 0x50)
        algs: list[int] = []
        ac = tlv.find(inner, 0xAC)
        if ac is not None:
            algs = [item.value[0] for item in ac.children() if item.tag == 0x80 and len(item.value) == 1]
        label = label_raw.value.decode("utf-8", "replace") if label_raw else None
        return PivApplication(aid, label, tuple(algs))

    def get_data(self, tag: int) -> bytes:
        """The contents of data object ``tag`` (inside its 53 container; discovery 7E as is)."""
        tag_bytes = tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")
        data = self._run(Command(0x00, 0xCB, 0x3F, 0xFF, tlv.encode(0x5C, tag_bytes), le=256))
        items = tlv.parse_all(data)
        if len(items) != 1:
            raise MalformedResponse(f"GET DATA {tag:X}: expected one object, got {len(items)}")
        want = 0x7E if tag == 0x7E else 0x53
        if items[0].tag != want:
            raise MalformedResponse(f"GET DATA {tag:X}: unexpected tag {items[0].tag:X}")
        return items[0].value

    def read_chuid(self) -> Chuid:
        items = tlv.parse_all(self.get_data(OBJ_CHUID))
        fasc_n = tlv.require(items, 0x30, "CHUID")
        guid = tlv.require(items, 0x34, "CHUID")
        if len(guid) != 16:
            raise MalformedResponse(f"CHUID GUID is {len(guid)} bytes, not 16")
        expiry_raw = tlv.find(items, 0x35)
        expiry = None
        if expiry_raw is not None:
            text = expiry_raw.value.decode("ascii", "replace")
            if not (len(text) == 8 and text.isdigit()):
                raise MalformedResponse("CHUID expiry is not YYYYMMDD")
            expiry = text
        return Chuid(fasc_n, guid, expiry)

    def read_certificate(self, slot: int | str) -> bytes:
        """The DER X.509 certificate of key ``slot`` (0x9E / 0x9A or "9E" / "9A")."""
        items = tlv.parse_all(self.get_data(CERT_OBJECTS[_slot(slot)]))
        cert = tlv.require(items, 0x70, "certificate container")
        info = tlv.find(items, 0x71)
        if info is not None and info.value[:1] == b"\x01":  # CertInfo: gzip-compressed
            d = zlib.decompressobj(wbits=31)
            try:
                cert = d.decompress(cert, MAX_CERT)
            except zlib.error as exc:
                raise MalformedResponse(f"compressed certificate does not inflate: {exc}") from None
            if d.unconsumed_tail:
                raise MalformedResponse("compressed certificate too large")
        if not cert or cert[0] != 0x30:
            raise MalformedResponse("certificate is not a DER SEQUENCE")
        return cert

    def sign(self, slot: int | str, digest: bytes) -> bytes:
        """ECDSA P-256 signature (DER) of a 32-byte digest with key ``slot``. Key 9A needs verify_pin."""
        if len(digest) != 32:
            raise UsageError("digest must be 32 bytes (SHA-256)")
        template = tlv.encode(0x7C, tlv.encode(0x82, b"") + tlv.encode(0x81, digest))
        data = self._run(Command(0x00, 0x87, ALG_ECC_P256, _slot(slot), template, le=256))
        outer = tlv.parse_all(data)
        if len(outer) != 1 or outer[0].tag != 0x7C:
            raise MalformedResponse("GENERAL AUTHENTICATE answer is not a 7C template")
        sig = tlv.require(outer[0].children(), 0x82, "GENERAL AUTHENTICATE")
        try:
            decode_dss_signature(sig)
        except ValueError:
            raise MalformedResponse("card signature is not a DER ECDSA signature") from None
        return sig

    def verify_pin(self, pin: str) -> None:
        """VERIFY the PIV PIN. Raises WrongPin (``tries_left``) or PinBlocked."""
        self._run(Command(0x00, 0x20, 0x00, PIN_REF, _pin_field(pin)))

    def change_pin(self, old: str, new: str) -> None:
        """CHANGE REFERENCE DATA for the PIV PIN. Raises WrongPin / PinBlocked like verify_pin."""
        data = _pin_field(old) + _pin_field(new)
        self._run(Command(0x00, 0x24, 0x00, PIN_REF, data))

    def unblock_pin(self, puk: str, new_pin: str) -> None:
        """RESET RETRY COUNTER: the PUK sets a new PIN and resets its tries (WrongPin counts PUK tries)."""
        if not (len(puk) == 8 and puk.isdigit() and puk.isascii()):
            raise UsageError("a PIV PUK is 8 digits")
        self._run(Command(0x00, 0x2C, 0x00, PIN_REF, puk.encode("ascii") + _pin_field(new_pin)))

    def pin_status(self) -> int | None:
        """None if the PIN is verified in this session, else the tries left (0 when blocked)."""
        try:
            self._run(Command(0x00, 0x20, 0x00, PIN_REF))
        except WrongPin as exc:
            return exc.tries_left
        except PinBlocked:
            return 0
        return None
