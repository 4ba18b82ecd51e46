"""Signed update bundles (application slots, or whole roots): the format the operator's tools write and
the box verifies. Sans-I/O.

Layout (all lengths big-endian)::

    b"RLUPD1\\n"                      7-byte magic
    u32 manifest length, manifest    JSON object, at most 64 KiB (see Manifest)
    u16 signature length, signature  DER ECDSA P-256 / SHA-256 by the operator key over magic..manifest
    payload                          gzip'd tar of the application tree, ``payload_size`` bytes; for
                                     ``kind: root`` the tar of ``rootfs.img`` (an ext4 image written to
                                     the inactive root partition) and ``boot/KERNEL``, ``boot/INITRD``

The signature covers the manifest, which carries the payload's SHA-256 and size, so a box checks the
signature from the header alone and the payload by its digest. ``HeaderDecoder`` may be fed any pieces,
one byte at a time included; it buffers at most one header (bounded) and reports where the payload starts.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from roamline.wire.errors import PeerError, UsageError

MAGIC = b"RLUPD1\n"
MAX_MANIFEST = 64 * 1024
MAX_SIGNATURE = 80  # DER ECDSA P-256 is at most 72 bytes
MAX_PAYLOAD = 1 << 34  # 16 GiB: larger is not an application update
COMPATIBLE = "roamline-box"
_VERSION_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}")


class BundleError(PeerError):
    """A bundle that is malformed, not signed by the trusted key, or whose payload does not match."""


_FILE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
ROOT_IMAGE = "rootfs.img"  # a root bundle's payload: this ext4 image, and boot/KERNEL, boot/INITRD


@dataclass(frozen=True, slots=True)
class RootImage:
    """What a whole-root bundle (``kind: root``) carries besides its payload digest: the root
    filesystem image's own SHA-256 and size (checked again after it is written to the partition), and
    the names of the slot's kernel and initrd (``boot/NAME`` in the payload)."""
    image_sha256: str
    image_size: int
    kernel: str
    initrd: str


@dataclass(frozen=True, slots=True)
class Manifest:
    version: str
    payload_sha256: str
    payload_size: int
    health: tuple[str, ...]  # argv run in the new slot to decide whether it is healthy (exit 0 = good)
    compatible: str = COMPATIBLE
    root: RootImage | None = None  # a whole-root update (None: an application slot's tree)

    @property
    def kind(self) -> str:
        return "app" if self.root is None else "root"

    def encode(self) -> bytes:
        body: dict[str, object] = {
            "compatible": self.compatible, "version": self.version, "payload_sha256": self.payload_sha256,
            "payload_size": self.payload_size, "health": list(self.health)}
        if self.root is not None:  # application bundles keep the exact bytes they always had
            r = self.root
            body["kind"] = "root"
            body["root"] = {"image_sha256": r.image_sha256, "image_size": r.image_size, "kernel": r.kernel,
                            "initrd": r.initrd}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes) -> Manifest:
        try:
            body = json.loads(raw)
        except ValueError:  # UnicodeDecodeError included
            raise BundleError("bundle manifest is not JSON") from None
        if not isinstance(body, dict):
            raise BundleError("bundle manifest is not a JSON object")
        version, digest, size = body.get("version"), body.get("payload_sha256"), body.get("payload_size")
        health, compatible = body.get("health"), body.get("compatible")
        if not isinstance(version, str) or _VERSION_RE.fullmatch(version) is None:
            raise BundleError("bundle manifest: bad version")
        if not isinstance(digest, str) or re.fullmatch(r"[0-9a-f]{64}", digest) is None:
            raise BundleError("bundle manifest: bad payload_sha256")
        if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= MAX_PAYLOAD:
            raise BundleError("bundle manifest: bad payload_size")
        if (not isinstance(health, list) or not 1 <= len(health) <= 32
                or not all(isinstance(a, str) and 0 < len(a) <= 4096 for a in health)):
            raise BundleError("bundle manifest: health must be a non-empty list of strings")
        if not isinstance(compatible, str):
            raise BundleError("bundle manifest: bad compatible")
        kind = body.get("kind", "app")
        if kind == "app":
            if "root" in body:
                raise BundleError("bundle manifest: an application bundle carries no root image")
            return cls(version, digest, size, tuple(health), compatible)
        if kind != "root":
            raise BundleError("bundle manifest: kind must be app or root")
        return cls(version, digest, size, tuple(health), compatible, _root_image(body.get("root")))


def _root_image(raw: object) -> RootImage:
    if not isinstance(raw, dict):
        raise BundleError("bundle manifest: a root bundle needs its root object")
    digest, size, kernel, initrd = (raw.get(k) for k in ("image_sha256", "image_size", "kernel", "initrd"))
    if not isinstance(digest, str) or re.fullmatch(r"[0-9a-f]{64}", digest) is None:
        raise BundleError("bundle manifest: bad root image_sha256")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= MAX_PAYLOAD:
        raise BundleError("bundle manifest: bad root image_size")
    for what, name in (("kernel", kernel), ("initrd", initrd)):
        if not isinstance(name, str) or _FILE_NAME_RE.fullmatch(name) is None:
            raise BundleError(f"bundle manifest: bad root {what} (a file name)")
    assert isinstance(kernel, str) and isinstance(initrd, str)
    return RootImage(digest, size, kernel, initrd)


@dataclass(frozen=True, slots=True)
class Header:
    manifest: Manifest
    signed: bytes  # magic .. manifest: what the signature covers
    signature: bytes
    payload_offset: int


def signed_part(manifest: Manifest) -> bytes:
    raw = manifest.encode()
    if len(raw) > MAX_MANIFEST:
        raise UsageError("manifest too large")
    return MAGIC + len(raw).to_bytes(4, "big") + raw


def encode_header(manifest: Manifest, signature: bytes) -> bytes:
    if not 0 < len(signature) <= MAX_SIGNATURE:
        raise UsageError("signature length out of range")
    return signed_part(manifest) + len(signature).to_bytes(2, "big") + signature


class HeaderDecoder:
    """Incremental decoder of a bundle's header; ``feed`` returns the Header once complete (else None)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.header: Header | None = None

    def feed(self, data: bytes) -> Header | None:
        if self.header is not None:
            return self.header
        need = len(MAGIC) + 4 + MAX_MANIFEST + 2 + MAX_SIGNATURE
        self._buf += data[: max(0, need - len(self._buf))]
        buf = self._buf
        if len(buf) < len(MAGIC):
            if not MAGIC.startswith(bytes(buf)):
                raise BundleError("not a Roamline update bundle (bad magic)")
            return None
        if bytes(buf[: len(MAGIC)]) != MAGIC:
            raise BundleError("not a Roamline update bundle (bad magic)")
        at = len(MAGIC)
        if len(buf) < at + 4:
            return None
        mlen = int.from_bytes(buf[at : at + 4], "big")
        if not 0 < mlen <= MAX_MANIFEST:
            raise BundleError(f"bundle manifest of {mlen} bytes (1..{MAX_MANIFEST})")
        at += 4
        if len(buf) < at + mlen + 2:
            return None
        manifest_raw = bytes(buf[at : at + mlen])
        at += mlen
        slen = int.from_bytes(buf[at : at + 2], "big")
        if not 0 < slen <= MAX_SIGNATURE:
            raise BundleError(f"bundle signature of {slen} bytes (1..{MAX_SIGNATURE})")
        if len(buf) < at + 2 + slen:
            return None
        signature = bytes(buf[at + 2 : at + 2 + slen])
        manifest = Manifest.decode(manifest_raw)
        self.header = Header(manifest, bytes(buf[: at]), signature, at + 2 + slen)
        return self.header


def sign(key: ec.EllipticCurvePrivateKey, manifest: Manifest) -> bytes:
    return key.sign(signed_part(manifest), ec.ECDSA(hashes.SHA256()))


def verify(header: Header, trusted: ec.EllipticCurvePublicKey) -> None:
    """BundleError unless the operator key ``trusted`` signed this header, for a Roamline box."""
    try:
        trusted.verify(header.signature, header.signed, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise BundleError("bundle is not signed by the trusted operator key") from None
    if header.manifest.compatible != COMPATIBLE:
        raise BundleError(f"bundle is for {header.manifest.compatible!r}, not {COMPATIBLE!r}")


class PayloadCheck:
    """SHA-256 and size of the payload as it streams by; ``finish`` raises BundleError on a mismatch."""

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self._hash = hashlib.sha256()
        self.size = 0

    def feed(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.manifest.payload_size:
            raise BundleError("bundle payload is longer than its manifest says")
        self._hash.update(data)

    def finish(self) -> None:
        if self.size != self.manifest.payload_size:
            raise BundleError(f"bundle payload is {self.size} bytes, "
                              f"manifest says {self.manifest.payload_size}")
        if self._hash.hexdigest() != self.manifest.payload_sha256:
            raise BundleError("bundle payload does not match its signed digest (corrupted)")
