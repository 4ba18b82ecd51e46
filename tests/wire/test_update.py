"""The update bundle header: round trip, byte-by-byte decoding, any bytes either parse or are refused."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.wire import update

KEY = ec.generate_private_key(ec.SECP256R1())
MANIFEST = update.Manifest(version="2.0.1", payload_sha256="ab" * 32, payload_size=1234, health=("./health",))


def bundle_header(manifest: update.Manifest = MANIFEST) -> bytes:
    return update.encode_header(manifest, update.sign(KEY, manifest))


def test_round_trip_and_signature() -> None:
    raw = bundle_header() + b"payload"
    dec = update.HeaderDecoder()
    header = dec.feed(raw)
    assert header is not None and header.manifest == MANIFEST and raw[header.payload_offset :] == b"payload"
    update.verify(header, KEY.public_key())
    with pytest.raises(update.BundleError, match="not signed by the trusted"):
        update.verify(header, ec.generate_private_key(ec.SECP256R1()).public_key())


def test_fed_byte_by_byte() -> None:
    raw = bundle_header() + b"xyz"
    dec = update.HeaderDecoder()
    got = None
    for i in range(len(raw)):
        got = dec.feed(raw[i : i + 1])
        if got is not None:
            assert i == got.payload_offset - 1  # complete exactly at its last byte
            break
    assert got is not None and got.manifest == MANIFEST


def test_tampered_manifest_fails_the_signature() -> None:
    raw = bytearray(bundle_header())
    raw[raw.index(b"2.0.1")] = ord("3")
    header = update.HeaderDecoder().feed(bytes(raw))
    assert header is not None
    with pytest.raises(update.BundleError):
        update.verify(header, KEY.public_key())


def test_payload_check() -> None:
    import hashlib

    data = b"x" * 100
    m = update.Manifest("1", hashlib.sha256(data).hexdigest(), 100, ("true",))
    ok = update.PayloadCheck(m)
    ok.feed(data)
    ok.finish()
    bad = update.PayloadCheck(m)
    bad.feed(b"y" * 100)
    with pytest.raises(update.BundleError, match="corrupted"):
        bad.finish()
    long = update.PayloadCheck(m)
    with pytest.raises(update.BundleError, match="longer"):
        long.feed(data + b"!")


@settings(max_examples=500)
@given(st.binary(max_size=300), st.integers(min_value=1, max_value=50))
def test_any_bytes(data: bytes, piece: int) -> None:
    for prefix in (b"", update.MAGIC):
        dec = update.HeaderDecoder()
        raw = prefix + data
        try:
            for i in range(0, len(raw), piece):
                if dec.feed(raw[i : i + piece]) is not None:
                    break
        except update.BundleError:
            continue


@settings(max_examples=200)
@given(st.binary(max_size=200))
def test_manifest_decode_any_bytes(data: bytes) -> None:
    try:
        m = update.Manifest.decode(data)
    except update.BundleError:
        return
    assert update.Manifest.decode(m.encode()) == m


ROOT = update.Manifest(version="5.0", payload_sha256="cd" * 32, payload_size=99, health=("roamline", "box"),
                       root=update.RootImage("ef" * 32, 1 << 30, "vmlinuz-6.1.0-51-arm64",
                                             "initrd.img-6.1.0-51-arm64"))


def test_root_manifest_round_trips_and_app_manifests_keep_their_bytes() -> None:
    assert ROOT.kind == "root" and MANIFEST.kind == "app"
    assert update.Manifest.decode(ROOT.encode()) == ROOT
    assert b"kind" not in MANIFEST.encode() and b"root" not in MANIFEST.encode()
    header = update.HeaderDecoder().feed(bundle_header(ROOT))
    assert header is not None and header.manifest == ROOT
    update.verify(header, KEY.public_key())


@pytest.mark.parametrize("change", [
    {"kind": "firmware"}, {"kind": "root", "root": None}, {"root": {"image_sha256": "x"}},
    {"kind": "root", "root": {"image_sha256": "ef" * 32, "image_size": 0, "kernel": "k", "initrd": "i"}},
    {"kind": "root", "root": {"image_sha256": "ef" * 32, "image_size": 5, "kernel": "../k", "initrd": "i"}},
    {"kind": "root", "root": {"image_sha256": "ef" * 32, "image_size": 5, "kernel": "k", "initrd": "a/i"}},
])
def test_bad_root_manifests_are_refused(change: dict[str, object]) -> None:
    import json

    body = {**json.loads(MANIFEST.encode()), **change}
    with pytest.raises(update.BundleError):
        update.Manifest.decode(json.dumps(body).encode())
