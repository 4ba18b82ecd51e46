"""The answering-point directory's CSV (`cloud psap import`, cloud/psap.py) and what it shares with the
local-services directory (cloud/csvfile.py): properties over valid rows and over any bytes, truncation
byte by byte, and the import command."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.cli.main import main
from roamline.cloud import csvfile, psap
from roamline.cloud.errors import UsageError
from roamline.cloud.records import AnsweringPoint
from roamline.cloud.services import parse_csv as parse_services

HEADER = ("name", "uri", "lat", "lon", "radius_m", "country", "A1", "A3")
GOOD = ("name,uri,lat,lon,radius_m,country,A1,A3\n"
        "shelbyville,sip:psap@10.0.0.5:5060,39.4064,-88.7901,15000,,,\n"
        "illinois,sip:psap@10.0.0.6:5060,,,,US,IL,\n"
        "fallback,sip:psap@10.0.0.7:5060,,,,,,\n")


def load(data: bytes) -> list[AnsweringPoint]:
    """What `cloud psap import` makes of a file's bytes."""
    return psap.parse_csv(csvfile.text_of(data, "psap.csv"))


def one_line_refusal(data: bytes) -> str | None:
    """None if ``data`` parses; else the refusal, which must be the package's one-line UsageError."""
    try:
        load(data)
    except UsageError as exc:
        assert str(exc) and not any(c in str(exc) for c in "\r\n"), str(exc)
        return str(exc)
    return None


# --- valid rows round-trip ------------------------------------------------------------------------------

names = st.from_regex(psap.NAME, fullmatch=True).filter(lambda s: s == s.strip())
hosts = st.one_of(st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t))),
                  st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z][a-z0-9-]{0,10}){0,2}", fullmatch=True),
                  st.just("[2001:db8::5]"))
uris = st.builds(lambda user, host, port, params: f"sip:{user}{host}{port}{params}",
                 st.sampled_from(["", "psap@", "911@", "a.b-c@"]), hosts,
                 st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}")),
                 st.sampled_from(["", ";transport=udp", ";lr;x=1"]))
areas = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FF).filter(str.isprintable),
                min_size=1, max_size=80).map(str.strip).filter(bool)
finite = {"allow_nan": False, "allow_infinity": False}
circles = st.builds(lambda n, u, lat, lon, r: AnsweringPoint(n, u, "circle", lat, lon, r), names, uris,
                    st.floats(-90, 90, **finite), st.floats(-180, 180, **finite),
                    st.floats(1, psap.MAX_RADIUS_M, **finite))
admins = st.builds(lambda n, u, c, a1, a3: AnsweringPoint(n, u, "admin", country=c, a1=a1 or "",
                                                          a3=(a3 or "") if a1 else ""),
                   names, uris, st.from_regex(r"[A-Z]{2}", fullmatch=True), st.none() | areas,
                   st.none() | areas)
defaults = st.builds(lambda n, u: AnsweringPoint(n, u, "default"), names, uris)
points = st.lists(st.one_of(circles, admins, defaults), max_size=12)


def write(rows: list[AnsweringPoint], *, header: tuple[str, ...] = HEADER, end: str = "\n",
          blank_every: int = 0, bom: bool = False) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, lineterminator=end)
    w.writerow(header)
    for i, p in enumerate(rows):
        if blank_every and i % blank_every == 0:
            out.write(" , ,,,,,," + end)  # blank cells only: skipped
        w.writerow((p.name, p.uri, *("" if v is None else repr(v) for v in (p.lat, p.lon, p.radius_m)),
                    p.country.lower() if i % 2 else p.country, p.a1, p.a3))
    return (b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode("utf-8")


@settings(max_examples=150, deadline=None)
@given(points, st.sampled_from(["\n", "\r\n", "\r"]), st.integers(0, 3), st.booleans(),
       st.sampled_from([HEADER, tuple(h.upper() for h in HEADER), tuple(f" {h} " for h in HEADER)]))
def test_valid_rows_round_trip(rows: list[AnsweringPoint], end: str, blank_every: int, bom: bool,
                               header: tuple[str, ...]) -> None:
    # an eight-column file's rows get the call-back network of their URI's own address (cloud.psap)
    expected = [dataclasses.replace(p, callback_from=psap.callback_networks(p)) for p in rows]
    assert load(write(rows, header=header, end=end, blank_every=blank_every, bom=bom)) == expected


@settings(max_examples=100, deadline=None)
@given(points.filter(bool), st.data())
def test_a_row_broken_anywhere_names_its_line(rows: list[AnsweringPoint], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(rows) - 1))
    text = write(rows).decode().splitlines(keepends=True)
    text[i + 1] = "x," + text[i + 1]  # one column too many
    with pytest.raises(UsageError, match=f"^line {i + 2}: expected 8 columns, got 9$"):
        load("".join(text).encode())


# --- any bytes: a directory or the package's clear error ------------------------------------------------

@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_parse_or_fail_in_one_line(data: bytes) -> None:
    one_line_refusal(data)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(GOOD)), st.binary(max_size=12))
def test_a_good_file_with_bytes_spliced_in_parses_or_fails_in_one_line(at: int, junk: bytes) -> None:
    good = GOOD.encode()
    one_line_refusal(good[:at] + junk + good[at:])


def test_every_truncation_of_a_good_file_parses_or_fails_in_one_line() -> None:
    """Cut anywhere: a cut at the end of a line (or just before its newline) is the rows before it,
    any other cut is refused on the line it falls in (a row cut short lacks columns)."""
    good, whole = GOOD.encode(), load(GOOD.encode())
    header = ("line 1: the header must be name,uri,lat,lon,radius_m,country,A1,A3,callback_from,"
              "tls_fingerprint,tls_ca (the last three may be left out)")
    for n in range(len(good) + 1):
        refusal, line = one_line_refusal(good[:n]), GOOD[:n].count("\n") + 1
        if n == len(good) or GOOD[n] == "\n" or GOOD[n - 1 : n] == "\n":
            assert refusal is None, (n, refusal)
            assert load(good[:n]) == whole[: max(0, GOOD[: n + 1].count("\n") - 1)]
        elif line == 1:
            assert refusal == header, (n, refusal)
        else:
            assert refusal is not None and refusal.startswith(f"line {line}: expected 8 columns"), n


@pytest.mark.parametrize(("data", "refusal"), [
    (b"\xff" + GOOD.encode(), "psap.csv: not UTF-8 text"),
    (GOOD.encode() + b'x,"' + b"y" * 200_000 + b'",,,,,,\n', "line 5: field larger than field limit"),
    (GOOD.encode() + b"bad,sip:psap@h;x\x00y,,,,,,\n", "line 5: uri 'sip:psap@h;x\\x00y' must be printable"),
    (GOOD.encode() + b"bad,sip:a\rb@h,,,,,,\n", "line 5: expected 8 columns, got 2"),  # CR ends a row
    (GOOD.encode() + b'bad,"sip:a b@h",,,,,,\n', "line 5: uri 'sip:a b@h' must be printable ASCII with no"),
    (GOOD.encode() + b'bad,sip:p@h,,,,US,"A\nB",\n', "line 5: A1 must be at most 80 printable"),
    (GOOD.encode() + b'\n"\n",,,,,,,\n!,sip:p@h,,,,,,\n', "line 8: name '!'"),  # blank rows count
])
def test_refusals_are_one_line_and_name_the_line(data: bytes, refusal: str) -> None:
    got = one_line_refusal(data)
    assert got is not None and got.startswith(refusal), got


def test_a_row_with_a_quoted_line_break_is_refused_on_the_line_it_starts() -> None:
    with pytest.raises(UsageError, match=r"^line 5: name 'two\\nlines'"):
        psap.parse_csv(GOOD + '"two\nlines",sip:p@h,,,,,,\n')


def test_too_many_rows() -> None:
    rows = "".join(f"p{i},sip:p@h,,,,,,\n" for i in range(psap.MAX_ROWS + 1))
    with pytest.raises(UsageError, match=f"^more than {psap.MAX_ROWS} answering-point rows$"):
        psap.parse_csv(GOOD.splitlines(keepends=True)[0] + rows)
    assert len(psap.parse_csv(GOOD.splitlines(keepends=True)[0] + rows[: rows.rindex("p10000")])) == 10_000


def test_the_local_services_csv_shares_the_reader() -> None:
    head = "category,name,number,lat,lon,radius_m\r\n"
    assert len(parse_services(csvfile.text_of(b"\xef\xbb\xbf" + head.encode() +
                                              b'pizza,"Luigi\'s, Downtown",+12175550101,39.8,-89.6,5000\r\n',
                                              "s.csv"))) == 1
    with pytest.raises(UsageError, match=r"^line 2: field larger than field limit"):
        parse_services(head + 'pizza,"' + "x" * 200_000 + '",+12175550101,39.8,-89.6,5000\n')


# --- the command ----------------------------------------------------------------------------------------

def test_psap_import_replaces_the_directory_or_imports_nothing(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "reg"
    assert main(["cloud", "ca", "init", "--data", str(data)]) == 0
    good = tmp_path / "psap.csv"
    good.write_bytes(b"\xef\xbb\xbf" + GOOD.replace("\n", "\r\n").encode())  # as a spreadsheet saves it
    capsys.readouterr()
    assert main(["cloud", "psap", "import", str(good), "--data", str(data)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "imported 3 service areas of 3 answering points"
    assert json.loads(out[1]) == {"imported": 3, "answering_points": 3, "circle": 1, "admin": 1, "default": 1,
                                  "tls": 0, "no_callback": []}
    for bad, why in [(b"\xff\xfe" + GOOD.encode("utf-16-le"), "not UTF-8 text"),
                     (GOOD.encode() + b"x,sip:p@h;\x01,,,,,,\n", "line 5: uri")]:
        path = tmp_path / "bad.csv"
        path.write_bytes(bad)
        assert main(["cloud", "psap", "import", str(path), "--data", str(data), "--json"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and why in err[0], err
    assert main(["cloud", "psap", "list", "--data", str(data), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert [p["name"] for p in listed] == ["shelbyville", "illinois", "fallback"]  # the earlier directory
