"""The card file model: TOML round trip and validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from roamline.hil.card.issue import TestCa
from roamline.provisioning.cardfile import (
    CardFile,
    ConfigError,
    dumps_cardfile,
    load_cardfile,
    save_cardfile,
)


def test_round_trip(tmp_path: Path, card_ca: TestCa) -> None:
    cf = card_ca.make_cardfile(guid="00112233445566778899aabbccddeeff")
    path = tmp_path / "card.toml"
    save_cardfile(cf, path)
    assert path.stat().st_mode & 0o777 == 0o600
    back = load_cardfile(path)
    assert back == cf
    assert back.card_id == "00112233445566778899aabbccddeeff"
    no9a = card_ca.make_cardfile(with_9a=False)
    save_cardfile(no9a, path)
    assert load_cardfile(path).slot_9a is None
    assert "slot_9a" not in path.read_text()


def mutate(cf: CardFile, tmp_path: Path, old: str, new: str) -> Path:
    text = dumps_cardfile(cf)
    assert old in text
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        ('guid = "', 'guid = "zz', "chuid.guid"),
        ('expiry = "20991231"', 'expiry = "20991341"', "chuid.expiry"),
        ('pin = "123456"', 'pin = "12345"', "pin.pin"),
        ('pin = "123456"', 'pin = "12a456"', "pin.pin"),
        ('puk = "12345678"', 'puk = "1234"', "pin.puk"),
        ("pin_retries = 3", "pin_retries = 99", "pin.pin_retries"),
        ("-----BEGIN PRIVATE KEY-----", "-----BEGIN JUNK-----", "slot_9e"),
        ("[pin]", "colour = 1\n[pin]", "colour"),
    ],
)
def test_rejects(tmp_path: Path, card_ca: TestCa, old: str, new: str, fragment: str) -> None:
    cf = card_ca.make_cardfile()
    with pytest.raises(ConfigError, match=fragment):
        load_cardfile(mutate(cf, tmp_path, old, new))


def test_key_and_cert_must_match(tmp_path: Path, card_ca: TestCa) -> None:
    a, b = card_ca.make_cardfile(), card_ca.make_cardfile()
    bad = a.model_copy(update={"slot_9e": None}).model_dump(exclude_none=True)
    bad["slot_9e"] = {"key_pem": a.slot_9e.key_pem, "cert_pem": b.slot_9e.cert_pem}
    with pytest.raises(ConfigError, match="does not belong"):
        from roamline.wire.config import parse

        parse(CardFile, bad)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_cardfile(tmp_path / "nope.toml")
