"""The answering-point directory as `cloud psap import` reads a file (cloud/csvfile.py ``text_of``, then
cloud/psap.py ``parse_csv``), its round trip through CSV, and the choice made from it.

Documented error: ``UsageError`` (not UTF-8, a bad header, or ``line N: …`` on the first bad row), with a
one-line message. Beyond that: every point accepted is what the format says (a name, a ``sip:`` or
``sips:`` URI that can stand in a SIP request line, a circle in range or an area, call-back networks in
normal form, a TLS entry with its fingerprint), written back as CSV it parses to itself, and
:func:`candidates` ranks it for a location without failing.
"""

from __future__ import annotations

import csv
import io
import math

from roamline.cloud import csvfile, psap
from roamline.cloud.errors import UsageError
from roamline.wire import sip

EXPECTED: tuple[type[BaseException], ...] = (UsageError,)
LOCATIONS = (None, {"geo": {"lat": 39.4, "lon": -88.8}, "civic": {"country": "US", "A1": "IL", "A3": "x"}},
             {"geo": None, "civic": {"country": "us"}})


def to_csv(points: list[psap.AnsweringPoint]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(("name", "uri", "lat", "lon", "radius_m", "country", "A1", "A3", "callback_from",
                "tls_fingerprint", "tls_ca"))
    for p in points:
        w.writerow((p.name, p.uri, *("" if v is None else repr(v) for v in (p.lat, p.lon, p.radius_m)),
                    p.country, p.a1, p.a3, " ".join(p.callback_from), p.tls_fingerprint, ""))
    return out.getvalue()


def target(data: bytes) -> None:
    try:
        points = psap.parse_csv(csvfile.text_of(data, "psap.csv"))
    except UsageError as exc:
        assert str(exc) and "\n" not in str(exc) and "\r" not in str(exc), str(exc)
        raise
    for p in points:
        assert psap.NAME.fullmatch(p.name), p
        assert p.uri.startswith(("sip:", "sips:")) and p.uri.isascii() and p.uri.isprintable(), p
        assert " " not in p.uri and psap.transport_of(p.uri) in ("udp", "tls"), p
        assert (psap.transport_of(p.uri) == "tls") == bool(p.tls_fingerprint), p  # no CA file is read here
        assert all(psap.parse_networks(n) == (n,) for n in p.callback_from), p
        sip.host_port(p.uri)
        if p.kind == "circle":
            assert p.lat is not None and p.lon is not None and p.radius_m is not None, p
            assert all(math.isfinite(v) for v in (p.lat, p.lon, p.radius_m)), p
            assert -90 <= p.lat <= 90 and -180 <= p.lon <= 180 and 1 <= p.radius_m <= psap.MAX_RADIUS_M, p
        else:
            assert p.kind in ("admin", "default") and (p.kind == "admin") == bool(p.country), p
    assert psap.parse_csv(to_csv(points)) == points
    for where in LOCATIONS:
        found = psap.candidates(points, where)
        assert len({p.uri for p, _ in found}) == len(found)
