"""roamline.wire.validate: each check accepts exactly what its rule says, and refuses everything else
with a one-line UsageError (never another exception)."""

from __future__ import annotations

import argparse
import math
import socket
import unicodedata
from pathlib import Path

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from roamline.wire import validate
from roamline.wire.errors import UsageError


def refused(fn: object, text: str) -> bool:
    try:
        fn(text)  # type: ignore[operator]
    except UsageError as exc:
        assert "\n" not in str(exc)
        return True
    return False


@given(st.one_of(st.text(max_size=30), st.floats().map(str), st.integers().map(str)))
def test_number_accepts_only_finite_values_in_range(text: str) -> None:
    v = validate.Number(0.0, 100.0, lo_open=True)
    try:
        x = v.check(text)
    except UsageError as exc:
        assert "\n" not in str(exc)
        return
    assert math.isfinite(x) and 0.0 < x <= 100.0


@pytest.mark.parametrize("text", ["nan", "-nan", "inf", "Infinity", "-inf", "1e999", "", "0", "-0", "1e-400"])
def test_seconds_refuse_the_meaningless(text: str) -> None:
    assert refused(validate.seconds().check, text)


def test_integers() -> None:
    v = validate.count(1, 10)
    assert v.check("3") == 3 and v.check(" 10 ") == 10
    for text in ("0", "11", "1.5", "1e1", "nan", "0x3"):
        assert refused(v.check, text)
    assert validate.Port(base=0).check("0x8c7b") == 0x8C7B


@given(st.text(max_size=12))
def test_port(text: str) -> None:
    try:
        p = validate.check_port(text)
    except UsageError:
        return
    assert 1 <= p <= 65535


def test_port_zero_only_when_it_means_any() -> None:
    assert refused(validate.check_port, "0")
    assert validate.check_port("0", allow_zero=True) == 0


@given(st.text(max_size=80))
def test_identifier_is_its_documented_set(text: str) -> None:
    ok = not refused(validate.check_identifier, text)
    expected = (0 < len(text) <= 64 and text.isascii() and text[0].isalnum()
                and all(c.isalnum() or c in "._-" for c in text))
    assert ok == expected


@given(st.text(max_size=80))
def test_display_names_are_printable_and_bounded(text: str) -> None:
    try:
        name = validate.check_display_name(text)
    except UsageError:
        return
    assert 0 < len(name) <= 64 and name == name.strip(" ")
    assert not any(unicodedata.category(c)[0] == "C" or unicodedata.category(c) in ("Zl", "Zp") for c in name)


@given(st.text(alphabet="+0123456789 -()abc", max_size=20))
def test_e164_accepts_only_canonical_possible_numbers(text: str) -> None:
    try:
        number = validate.check_e164(text)
    except UsageError:
        return
    parsed = phonenumbers.parse(number, None)
    assert phonenumbers.is_possible_number(parsed)
    assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == number == text


@pytest.mark.parametrize("text", ["+15550100001", "+441632960123", "+33123456789"])
def test_e164_good(text: str) -> None:
    assert validate.check_e164(text) == text


@pytest.mark.parametrize(("text", "fragment"), [
    ("5550100", "E.164"), ("+1 555 0100", "E.164"), ("+1555", "too short"), ("+155501000012345", "too long"),
    ("+999123456", "country calling code"), ("+1abc", "E.164"),
])
def test_e164_bad(text: str, fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment):
        validate.check_e164(text)


@given(st.text(max_size=40))
def test_hosts_never_fail_otherwise(text: str) -> None:
    refused(validate.check_host, text)
    refused(validate.check_host_port, text)


def test_hosts() -> None:
    assert validate.check_host("Registry.Roamline") == "registry.roamline"
    assert validate.check_host("[::1]") == "::1" and validate.check_host("127.0.0.1") == "127.0.0.1"
    assert validate.check_host_port("[::1]:4433") == ("::1", 4433)
    for text in ("a b", "a..b", "-x", "x_y", "", "a" * 64):
        assert refused(validate.check_host, text)


def test_paths(tmp_path: Path) -> None:
    f = tmp_path / "f.txt"
    f.write_text("x")
    assert validate.check_existing_file(str(f)) == f
    for text in ("", " ", str(tmp_path), str(tmp_path / "nope"), str(f / "under"), "x" * 300, "a\x00b"):
        assert refused(validate.check_existing_file, text), text
    assert validate.NewDir().check(str(tmp_path / "a" / "b")) == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()  # checking creates nothing
    assert refused(validate.NewDir().check, str(f))
    assert refused(validate.NewDir().check, str(f / "sub"))
    assert refused(validate.NewFile().check, str(f))
    assert validate.NewFile(overwrite=True).check(str(f)) == f
    assert refused(validate.NewFile().check, str(tmp_path / "no" / "x"))
    reg = tmp_path / "reg"
    reg.mkdir()
    marker = validate.ExistingDir(marker="registry.db", hint="run ca init on {path}")
    with pytest.raises(UsageError, match="run ca init on"):
        marker.check(str(reg))
    (reg / "registry.db").write_bytes(b"")
    assert marker.check(str(reg)) == reg


def test_pem(tmp_path: Path) -> None:
    import time

    from roamline.wire.identity import CertificateAuthority, private_key_pem

    ca = CertificateAuthority.create(now=time.time())
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    (tmp_path / "ca.key").write_bytes(private_key_pem(ca.key))
    (tmp_path / "torn.pem").write_bytes(ca.cert_pem[:200])
    v = validate.PemCertificate()
    assert v.check(str(tmp_path / "ca.pem")) == tmp_path / "ca.pem"
    for name in ("ca.key", "torn.pem", "missing.pem"):
        with pytest.raises(UsageError):
            v.check(str(tmp_path / name))


def test_socket_and_device(tmp_path: Path) -> None:
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(tmp_path / "c.sock"))
    try:
        assert validate.Socket().check(str(tmp_path / "c.sock")) == tmp_path / "c.sock"
    finally:
        s.close()
    assert refused(validate.Socket().check, str(tmp_path))
    assert validate.Device().check("socket://127.0.0.1:9") == "socket://127.0.0.1:9"
    assert refused(validate.Device().check, "http://x")
    assert refused(validate.Device().check, str(tmp_path / "ttyNOPE"))


def test_validators_speak_argparse() -> None:
    parser = argparse.ArgumentParser(exit_on_error=False)
    parser.add_argument("--port", type=validate.Port())
    with pytest.raises(argparse.ArgumentError, match="argument --port: must be a port number"):
        parser.parse_args(["--port", "70000"])
    assert parser.parse_args(["--port", "80"]).port == 80


def test_pins_are_never_echoed() -> None:
    with pytest.raises(UsageError) as info:
        validate.Pin().check("12345")
    assert "12345" not in str(info.value)


def test_one_line_even_for_control_characters() -> None:
    with pytest.raises(UsageError) as info:
        validate.check_identifier("a\nb\x1b[2J" + "x" * 100)
    assert "\n" not in str(info.value) and "\x1b" not in str(info.value) and len(str(info.value)) < 200
