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
