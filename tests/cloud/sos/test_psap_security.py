"""The answering-point directory's security columns (cloud.psap): call-back networks, the TLS transport
and the TLS trust (fingerprint, CA), checked at import (hypothesis over the parsers) and when a
call-back arrives (callback_source); `roamline cloud psap import` refusing bad rows with one line."""

from __future__ import annotations

import ipaddress
import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.cloud.errors import UsageError
from roamline.cloud.psap import (
    callback_networks,
    callback_source,
    fingerprint_of,
    parse_csv,
    parse_fingerprint,
    parse_networks,
    transport_of,
)
from roamline.cloud.records import AnsweringPoint
from roamline.hil.rigrun import ROAMLINE
from roamline.hil.sip_tls import make_certificate

HEAD = "name,uri,lat,lon,radius_m,country,A1,A3,callback_from,tls_fingerprint,tls_ca\n"

networks = st.one_of(
    st.builds(lambda a, n: ipaddress.ip_network((a, n), strict=False), st.ip_addresses(v=4),
              st.integers(0, 32)),
    st.builds(lambda a, n: ipaddress.ip_network((a, n), strict=False), st.ip_addresses(v=6),
              st.integers(0, 128)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(networks, max_size=32), st.sampled_from([" ", "  ", ";", " ; "]))
def test_call_back_networks_round_trip_normalised(nets: list[ipaddress.IPv4Network], sep: str) -> None:
    got = parse_networks(sep.join(str(n) for n in nets))
    assert [ipaddress.ip_network(g) for g in got] == list(dict.fromkeys(nets))
    assert parse_networks(" ".join(got)) == got  # idempotent


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_call_back_networks_are_either_parsed_or_refused_with_a_reason(text: str) -> None:
    try:
        got = parse_networks(text)
    except UsageError as exc:
        assert str(exc).startswith("callback_from") and "\n" not in str(exc)
        return
    for g in got:  # whatever is accepted is a network without host bits
        net = ipaddress.ip_network(g, strict=True)
        assert str(net) == g


def test_host_bits_bad_addresses_and_too_many_networks_are_refused() -> None:
    for bad, why in [("10.0.0.5/24", "host bits"), ("10.0.0.256", "does not appear"), ("10.0.0.0/33", ""),
                     ("psap.example", ""), ("::1/129", "")]:
        with pytest.raises(UsageError, match=f"callback_from .*{why}"):
            parse_networks(bad)
    with pytest.raises(UsageError, match="at most 32"):
        parse_networks(" ".join(f"10.0.{i}.0/24" for i in range(33)))
    assert parse_networks("10.0.0.5 10.0.0.5/32 ::1") == ("10.0.0.5/32", "::1/128")


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.booleans(), st.booleans(),
       st.sampled_from(["", "sha-256 ", "SHA-256 ", "sha256:", "SHA256 "]))
def test_fingerprints_in_any_usual_spelling_normalise_to_one(digest: bytes, colons: bool, upper: bool,
                                                             prefix: str) -> None:
    hexed = digest.hex().upper() if upper else digest.hex()
    text = ":".join(hexed[i:i + 2] for i in range(0, 64, 2)) if colons else hexed
    got = parse_fingerprint(prefix + text)
    assert got == ":".join(digest.hex().upper()[i:i + 2] for i in range(0, 64, 2))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=100))
def test_anything_else_is_not_a_fingerprint(text: str) -> None:
    hexdigits = "".join(c for c in text if c in "0123456789abcdefABCDEF")
    try:
        got = parse_fingerprint(text)
    except UsageError as exc:
        assert "not a SHA-256 fingerprint" in str(exc)
        return
    assert len(hexdigits) >= 64 and len(got) == 95  # only real 32-byte fingerprints get through


def test_the_uri_decides_the_transport() -> None:
    assert transport_of("sip:psap@10.0.0.5:5060") == "udp"
    assert transport_of("sip:psap@10.0.0.5;transport=UDP") == "udp"
    assert transport_of("sip:psap@10.0.0.5:5061;transport=tls") == "tls"
    assert transport_of("sips:psap@psap.example") == "tls"
    for bad in ("sip:psap@h;transport=tcp", "sips:psap@h;transport=udp", "tel:+15551234567", "http://x"):
        with pytest.raises(UsageError):
            transport_of(bad)


def test_rows_are_checked_with_the_new_columns_and_the_old_header_still_imports() -> None:
    fp = "sha-256 " + "ab" * 32
    rows = parse_csv(HEAD + f"a,sips:psap@10.0.0.5:5061,,,,,,,10.0.0.0/29,{fp},\n"
                            "b,sip:psap@10.0.0.6,,,,US,IL,,,,\n"
                            "c,sip:psap@psap.example,,,,,,,,,\n")
    assert rows[0].callback_from == ("10.0.0.0/29",) and rows[0].tls_fingerprint == ":".join(["AB"] * 32)
    assert rows[1].callback_from == ("10.0.0.6/32",)  # empty: the URI's own address
    assert rows[2].callback_from == ()  # a name: no call-back is accepted from it
    old = parse_csv("name,uri,lat,lon,radius_m,country,A1,A3\nold,sip:psap@10.0.0.7,,,,,,\n")
    assert old[0].callback_from == ("10.0.0.7/32",) and old[0].tls_ca == ""
    for bad, why in [("a,sips:p@10.0.0.5,,,,,,,,,", "needs tls_fingerprint or tls_ca"),
                     (f"a,sip:p@10.0.0.5,,,,,,,,{fp},", "for a TLS URI"),
                     ("a,sip:p@10.0.0.5,,,,,,,10.0.0.1/8,,", "host bits"),
                     ("a,sips:p@10.0.0.5,,,,,,,,ab:cd,", "not a SHA-256"),
                     ("a,sip:p@10.0.0.5;transport=tcp,,,,,,,,,", "not supported"),
                     ("a,sips:p@10.0.0.5,,,,,,,,,ca.pem", "no CA files")]:
        with pytest.raises(UsageError, match=f"line 2: .*{why}"):
            parse_csv(HEAD + bad + "\n")


def test_a_call_back_is_matched_by_network_transport_and_certificate() -> None:
    ca = make_certificate("county CA", ca=True)
    theirs = make_certificate("county psap", issuer=ca)
    other = make_certificate("someone else")
    import ssl

    der = ssl.PEM_cert_to_DER_cert(theirs.cert_pem.decode())
    other_der = ssl.PEM_cert_to_DER_cert(other.cert_pem.decode())
    ca_der = ssl.PEM_cert_to_DER_cert(ca.cert_pem.decode())
    udp = AnsweringPoint("udp-psap", "sip:psap@10.0.0.5", "default")
    pinned = AnsweringPoint("pinned", "sips:psap@10.0.1.5", "default", callback_from=("10.0.1.0/24",),
                            tls_fingerprint=fingerprint_of(der))
    by_ca = AnsweringPoint("by-ca", "sip:psap@10.0.2.5;transport=tls", "default",
                           callback_from=("10.0.2.0/24", "2001:db8::/32"), tls_ca=ca.cert_pem.decode())
    points = [udp, pinned, by_ca]
    assert callback_networks(udp) == ("10.0.0.5/32",)
    assert callback_source(points, "10.0.0.5", "udp", None) is udp
    assert callback_source(points, "::ffff:10.0.0.5", "udp", None) is udp  # an IPv4-mapped address
    assert callback_source(points, "10.0.0.6", "udp", None) is None
    assert callback_source(points, "10.0.0.5", "tls", der) is None  # its URI says UDP
    assert callback_source(points, "10.0.1.9", "tls", der) is pinned
    assert callback_source(points, "10.0.1.9", "udp", None) is None  # a TLS entry: not over UDP
    assert callback_source(points, "10.0.1.9", "tls", other_der) is None
    assert callback_source(points, "10.0.1.9", "tls", None) is None
    assert callback_source(points, "10.0.2.9", "tls", der) is by_ca  # issued by its CA
    assert callback_source(points, "2001:db8::7", "tls", der) is by_ca
    assert callback_source(points, "10.0.2.9", "tls", ca_der) is by_ca  # the CA's own certificate
    assert callback_source(points, "10.0.2.9", "tls", other_der) is None
    assert callback_source(points, "10.0.2.9", "tls", b"not a certificate") is None
    assert callback_source(points, "bogus", "udp", None) is None


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ROAMLINE, *args], capture_output=True, text=True, timeout=60, check=False)


def test_psap_import_refuses_bad_cidrs_and_fingerprints_with_one_line_and_keeps_the_directory(
    tmp_path: Path
) -> None:
    data = tmp_path / "cloud"
    assert run("cloud", "ca", "init", "--data", str(data)).returncode == 0
    ca = make_certificate("county CA", ca=True)
    (tmp_path / "county-ca.pem").write_bytes(ca.cert_pem)
    (tmp_path / "junk.pem").write_text("not a certificate\n", encoding="utf-8")
    good = tmp_path / "good.csv"
    good.write_text(HEAD + "county,sips:psap@10.0.2.5:5061,,,,,,,10.0.2.0/24,,county-ca.pem\n"
                    "state,sip:psap@10.0.0.6,,,,,,,10.0.0.6 10.0.1.0/24,,\n", encoding="utf-8")
    done = run("cloud", "psap", "import", str(good), "--data", str(data), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["tls"] == 1
    for name, row, why in [
        ("cidr", "x,sip:psap@10.0.0.6,,,,,,,10.0.0.6/8,,", "host bits set"),
        ("addr", "x,sip:psap@10.0.0.6,,,,,,,10.0.0.300,,", "callback_from '10.0.0.300'"),
        ("fp", "x,sips:psap@10.0.0.6,,,,,,,,12:34,", "not a SHA-256 fingerprint"),
        ("nofile", "x,sips:psap@10.0.0.6,,,,,,,,,missing.pem", "No such file"),
        ("junk", "x,sips:psap@10.0.0.6,,,,,,,,,junk.pem", "no readable PEM"),
    ]:
        f = tmp_path / f"{name}.csv"
        f.write_text(HEAD + row + "\n", encoding="utf-8")
        done = run("cloud", "psap", "import", str(f), "--data", str(data))
        assert done.returncode != 0
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "line 2" in lines[0] and why in lines[0], done.stderr
    listed = json.loads(run("cloud", "psap", "list", "--data", str(data), "--json").stdout.splitlines()[-1])
    assert [(p["name"], p["callback_from"]) for p in listed] == [
        ("county", ["10.0.2.0/24"]), ("state", ["10.0.0.6/32", "10.0.1.0/24"])]  # unchanged
    assert listed[0]["tls_ca"].startswith("-----BEGIN CERTIFICATE-----")


cells = st.one_of(st.just(""), st.text(alphabet="0123456789abcdefABCDEF:./ -;", max_size=70),
                  st.builds(str, networks), st.sampled_from(["sha-256 " + "ab" * 32, "ca.pem"]))
uris = st.sampled_from(["sip:psap@10.0.0.5", "sips:psap@10.0.0.5:5061", "sip:psap@h;transport=tls",
                        "sip:psap@h;transport=tcp", "sips:psap@h"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(uris, cells, cells, cells), min_size=1, max_size=4))
def test_any_directory_file_is_imported_whole_or_refused_naming_its_line(
    rows: list[tuple[str, str, str, str]]
) -> None:
    text = HEAD + "".join(f'p{i},{u},,,,,,,"{a}","{b}","{c}"\n' for i, (u, a, b, c) in enumerate(rows))
    try:
        points = parse_csv(text, lambda name: b"not PEM")
    except UsageError as exc:
        msg = str(exc)
        assert "\n" not in msg and msg.startswith("line ")
        return
    assert len(points) == len(rows)
    for p in points:  # what is imported holds together
        assert (transport_of(p.uri) == "tls") == bool(p.tls_fingerprint or p.tls_ca)
        assert all(ipaddress.ip_network(n, strict=True) for n in p.callback_from)
        assert p.tls_ca == ""  # "not PEM" is never accepted as a CA
