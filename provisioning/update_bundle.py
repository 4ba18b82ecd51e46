"""Building a signed update bundle (format: roamline.wire.update) from an application tree."""

from __future__ import annotations

import hashlib
import os
import tarfile
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from roamline.provisioning.errors import UsageError
from roamline.wire import update


def load_operator_key(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None
    except (ValueError, TypeError):
        raise UsageError(f"{path}: not an unencrypted PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise UsageError(f"{path}: the operator key must be EC P-256")
    return key


def write_operator_key(directory: Path) -> tuple[Path, Path]:
    """A new operator key pair: DIR/operator.key (0600) and DIR/operator.pem (the public key boxes trust)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = directory / "operator.key", directory / "operator.pem"
    for p in (private, public):
        if p.exists():
            raise UsageError(f"{p}: exists (refusing to replace an operator key)")
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def build_bundle(payload_dir: Path, version: str, health: tuple[str, ...], key: ec.EllipticCurvePrivateKey,
                 out: Path) -> update.Manifest:
    """Tar+gzip ``payload_dir``, sign its manifest with ``key``, write ``out`` atomically."""
    with tempfile.TemporaryFile(dir=out.parent) as payload:
        with tarfile.open(fileobj=payload, mode="w:gz") as tar:
            for child in sorted(payload_dir.iterdir()):
                tar.add(child, arcname=child.name)
        size = payload.tell()
        payload.seek(0)
        digest = hashlib.sha256()
        while chunk := payload.read(1 << 20):
            digest.update(chunk)
        manifest = update.Manifest(version=version, payload_sha256=digest.hexdigest(), payload_size=size,
                                   health=health)
        try:
            update.Manifest.decode(manifest.encode())  # the box's own checks, before anything is signed
        except update.BundleError as exc:
            raise UsageError(str(exc)) from None
        header = update.encode_header(manifest, update.sign(key, manifest))
        tmp = out.with_name(out.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(header)
            payload.seek(0)
            while chunk := payload.read(1 << 20):
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(out)
    return manifest


def _sha256_of(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def build_root_bundle(root_image: Path, kernel: Path, initrd: Path, version: str, health: tuple[str, ...],
                      key: ec.EllipticCurvePrivateKey, out: Path, *,
                      compresslevel: int = 1) -> update.Manifest:
    """A whole-root bundle (``kind: root``): ``rootfs.img`` (an ext4 image for the inactive root partition)
    and the slot's kernel and initrd as ``boot/NAME``, gzip'd (level 1 by default: a root image is mostly
    zeros and big), the image's own digest and size in the signed manifest. Written atomically."""
    image_sha, image_size = _sha256_of(root_image)
    if image_size == 0:
        raise UsageError(f"{root_image}: empty root image")
    root = update.RootImage(image_sha, image_size, kernel.name, initrd.name)
    with tempfile.TemporaryFile(dir=out.parent) as payload:
        with tarfile.open(fileobj=payload, mode="w:gz", compresslevel=compresslevel) as tar:
            tar.add(root_image, arcname=update.ROOT_IMAGE, recursive=False)
            tar.add(kernel, arcname=f"boot/{kernel.name}", recursive=False)
            tar.add(initrd, arcname=f"boot/{initrd.name}", recursive=False)
        size = payload.tell()
        payload.seek(0)
        digest = hashlib.sha256()
        while chunk := payload.read(1 << 20):
            digest.update(chunk)
        manifest = update.Manifest(version=version, payload_sha256=digest.hexdigest(), payload_size=size,
                                   health=health, root=root)
        try:
            update.Manifest.decode(manifest.encode())
        except update.BundleError as exc:
            raise UsageError(str(exc)) from None
        header = update.encode_header(manifest, update.sign(key, manifest))
        tmp = out.with_name(out.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(header)
            payload.seek(0)
            while chunk := payload.read(1 << 20):
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(out)
    return manifest
