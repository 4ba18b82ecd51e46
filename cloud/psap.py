"""The answering-point directory behind the cloud's emergency route (DESIGN §6.4): which PSAP takes an
emergency call from a box at a given location.

CSV format (``roamline cloud psap import FILE.csv``), UTF-8, one header line; each row one service area
of one answering point (an answering point may have several rows)::

    name,uri,lat,lon,radius_m,country,A1,A3,callback_from,tls_fingerprint,tls_ca
    shelbyville,sips:psap@10.0.0.5:5061,39.4064,-88.7901,15000,,,,10.0.0.0/29,,shelbyville-ca.pem
    illinois,sip:psap@10.0.0.6:5060,,,,US,IL,,10.0.0.6 10.0.1.0/24,,
    fallback,sip:psap@10.0.0.7:5060,,,,,,,,,

(The first eight columns alone are still accepted: the last three are then empty.)

Security columns (NENA i3 ESInet style; docs/operator.md): ``callback_from`` is the networks the
answering point's call-backs may come from (IPv4/IPv6 addresses or CIDR blocks without host bits,
separated by spaces, at most 32); empty means the URI's own host when that is an IP address, else no
call-back is accepted from it. A URI ``sips:`` or with ``;transport=tls`` makes it a TLS entry (RFC 3261
§26, RFC 5630): the emergency INVITE goes over TLS and its call-backs are accepted over TLS only; such an
entry needs ``tls_fingerprint`` (the SHA-256 of its DER certificate, 32 hex bytes, colons optional, an
optional ``sha-256`` prefix) or ``tls_ca`` (a PEM file, relative to the CSV's folder: the CA that issued
its certificate, or its own self-signed certificate) or both. A UDP entry takes neither; TCP is refused.


A row with ``lat``, ``lon`` and ``radius_m`` is a circle; else one with ``country`` (and optionally the
state ``A1`` and the city ``A3``, RFC 5139, compared without case) is an administrative area; a row
with neither is the default. URIs are ``sip:`` or ``sips:`` with a host (IPv4 or name) and optional port,
printable ASCII with no spaces. A bad row is a UsageError naming its line; nothing is imported then. A file is
read as ``cloud.csvfile`` says (UTF-8, a byte-order mark allowed, line breaks inside quoted fields).

Security columns (NENA i3 ESInet style; docs/operator.md): ``callback_from`` is the networks the
answering point's call-backs may come from (IPv4/IPv6 addresses or CIDR blocks without host bits,
separated by spaces, at most 32); empty means the URI's own host when that is an IP address, else no
call-back is accepted from it. A URI ``sips:`` or with ``;transport=tls`` makes it a TLS entry (RFC 3261
§26, RFC 5630): the emergency INVITE goes over TLS and its call-backs are accepted over TLS only; such an
entry needs ``tls_fingerprint`` (the SHA-256 of its DER certificate, 32 hex bytes, colons optional, an
optional ``sha-256`` prefix) or ``tls_ca`` (a PEM file, relative to the CSV's folder: the CA that issued
its certificate, or its own self-signed certificate) or both. A UDP entry takes neither; TCP is refused.

A row with ``lat``, ``lon`` and ``radius_m`` is a circle; else one with ``country`` (and optionally the
state ``A1`` and the city ``A3``, RFC 5139, compared without case) is an administrative area; a row
with neither is the default. URIs are ``sip:`` with a host (IPv4 or name) and optional port. A bad row
is a UsageError naming its line; nothing is imported then.

:func:`candidates`: the answering points that cover a location, best first — circles holding a valid GPS
position (smallest first), then the civic address's administrative matches (city over state over
country), then defaults; :func:`choose` is the first. The router tries them in that order, the next when
one fails (no answer, busy, an error). A location that is missing or unconfirmed still picks (the call
is never refused for it: at worst it goes to a default).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidSignature

from roamline.cloud import csvfile
from roamline.cloud.errors import UsageError
from roamline.cloud.records import AnsweringPoint
from roamline.wire import sip
from roamline.wire.errors import PeerError as WirePeerError
from roamline.wire.geo import distance_m

BASE_COLUMNS = ("name", "uri", "lat", "lon", "radius_m", "country", "a1", "a3")
COLUMNS = (*BASE_COLUMNS, "callback_from", "tls_fingerprint", "tls_ca")
MAX_NETWORKS = 32
MAX_CA_BYTES = 64 * 1024
_FINGERPRINT = re.compile(r"(?:sha-?256[ :]?\s*)?((?:[0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}|[0-9A-Fa-f]{64})",
                          re.IGNORECASE)
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._'-]{0,79}")
MAX_RADIUS_M = 500_000.0
MAX_ROWS = 10_000


def _no_files(name: str) -> bytes:
    raise UsageError(f"tls_ca {name[:40]!r}: no CA files can be read here")


def parse_csv(text: str, read_file: Callable[[str], bytes] = _no_files) -> list[AnsweringPoint]:
    """Every row, checked; UsageError ``line N: …`` on the first bad one. ``read_file(name)``: the bytes
    of a ``tls_ca`` file named in a row (the import command reads it next to the CSV). The header may
    leave out the three security columns (the files of before them)."""
    return csvfile.parse_rows(text, COLUMNS, f"{','.join(COLUMNS[:5])},country,A1,A3,"
                              f"{','.join(COLUMNS[8:])} (the last three may be left out)", MAX_ROWS,
                              f"more than {MAX_ROWS} answering-point rows", lambda c: _row(c, read_file),
                              optional=3)


def transport_of(uri: str) -> str:
    """``tls`` for a ``sips:`` URI or one with ``;transport=tls``, ``udp`` for a ``sip:`` URI without a
    transport or with ``;transport=udp``; UsageError for anything else (TCP, SCTP, other schemes)."""
    m = re.search(r";transport=([A-Za-z0-9]+)", uri)
    given = m.group(1).lower() if m else None
    if uri.startswith("sips:"):
        if given not in (None, "tls", "tcp"):  # sips: over UDP is meaningless (RFC 3261 §26.2.2)
            raise UsageError(f"uri {uri[:40]!r}: a sips: URI cannot say transport={given}")
        return "tls"
    if not uri.startswith("sip:"):
        raise UsageError(f"uri {uri[:40]!r} must be a sip: URI (or sips: for TLS)")
    if given in (None, "udp"):
        return "udp"
    if given == "tls":
        return "tls"
    raise UsageError(f"uri {uri[:40]!r}: transport={given} is not supported (udp or tls)")


def parse_networks(text: str) -> tuple[str, ...]:
    """``callback_from``: space-separated IPv4/IPv6 addresses or CIDR blocks, normalised (``10.0.0.5`` →
    ``10.0.0.5/32``); UsageError for a bad one, host bits set, or more than :data:`MAX_NETWORKS`."""
    items = text.replace(";", " ").split()
    if len(items) > MAX_NETWORKS:
        raise UsageError(f"callback_from: at most {MAX_NETWORKS} networks, got {len(items)}")
    out: list[str] = []
    for item in items:
        try:
            net = ipaddress.ip_network(item, strict=True)
        except ValueError as exc:
            raise UsageError(f"callback_from {item[:45]!r}: {exc}") from None
        if str(net) not in out:
            out.append(str(net))
    return tuple(out)


def parse_fingerprint(text: str) -> str:
    """A SHA-256 certificate fingerprint, normalised to upper-case ``AB:CD:…`` (RFC 8122 form)."""
    m = _FINGERPRINT.fullmatch(text.strip())
    if m is None:
        raise UsageError(f"tls_fingerprint {text[:30]!r} is not a SHA-256 fingerprint (32 hex bytes)")
    digits = m.group(1).replace(":", "").upper()
    return ":".join(digits[i:i + 2] for i in range(0, 64, 2))


def fingerprint_of(der: bytes) -> str:
    """The SHA-256 fingerprint of a DER certificate, in :func:`parse_fingerprint`'s form."""
    digits = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digits[i:i + 2] for i in range(0, 64, 2))


def parse_ca(data: bytes, name: str) -> str:
    """``tls_ca``: one or more PEM certificates (UsageError if none can be read); the PEM text."""
    from cryptography import x509

    if len(data) > MAX_CA_BYTES:
        raise UsageError(f"tls_ca {name[:40]!r} is over {MAX_CA_BYTES // 1024} KiB")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise UsageError(f"tls_ca {name[:40]!r} holds no readable PEM certificate") from None
    return "".join(c.public_bytes(_pem()).decode("ascii") for c in certs)


def _pem() -> Any:
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.PEM


def _host_network(uri: str) -> tuple[str, ...]:
    host, _ = sip.host_port(uri)
    try:
        return (str(ipaddress.ip_network(host)),)
    except ValueError:
        return ()  # a name: no address is assumed


def callback_networks(point: AnsweringPoint) -> tuple[str, ...]:
    """Where ``point``'s call-backs may come from (its ``callback_from``, else its URI's IP host)."""
    if point.callback_from:
        return point.callback_from
    try:
        return _host_network(point.uri)
    except WirePeerError:
        return ()


def _row(cells: list[str], read_file: Callable[[str], bytes]) -> AnsweringPoint:
    name, uri, lat, lon, radius, country, a1, a3, cb_from, fingerprint, ca_file = cells
    if NAME.fullmatch(name) is None:
        raise UsageError(f"name {name[:20]!r} must be 1-80 letters, digits, spaces or . _ ' -")
    transport = transport_of(uri)
    if not (uri.isascii() and uri.isprintable()) or " " in uri:  # it stands in SIP request lines
        raise UsageError(f"uri {uri[:40]!r} must be printable ASCII with no spaces")
    try:
        sip.host_port(uri)
    except WirePeerError as exc:
        raise UsageError(f"uri: {exc}") from None
    networks = parse_networks(cb_from) or _host_network(uri)
    fp = parse_fingerprint(fingerprint) if fingerprint else ""
    ca = parse_ca(read_file(ca_file), ca_file) if ca_file else ""
    if transport == "tls" and not (fp or ca):
        raise UsageError("a TLS answering point needs tls_fingerprint or tls_ca (or both)")
    if transport == "udp" and (fp or ca):
        raise UsageError("tls_fingerprint and tls_ca are for a TLS URI (sips: or ;transport=tls)")
    sec = {"callback_from": networks, "tls_fingerprint": fp, "tls_ca": ca}
    return _area(name, uri, lat, lon, radius, country, a1, a3, sec)


def _area(name: str, uri: str, lat: str, lon: str, radius: str, country: str, a1: str, a3: str,
          sec: dict[str, Any]) -> AnsweringPoint:
    if lat or lon or radius:
        if not (lat and lon and radius):
            raise UsageError("a circle needs lat, lon and radius_m")
        if country or a1 or a3:
            raise UsageError("a row is a circle or an administrative area, not both")
        return AnsweringPoint(name, uri, "circle", csvfile.number(lat, -90, 90, "lat"),
                              csvfile.number(lon, -180, 180, "lon"),
                              csvfile.number(radius, 1, MAX_RADIUS_M, "radius_m"), **sec)
    if country:
        if re.fullmatch(r"[A-Za-z]{2}", country) is None:
            raise UsageError(f"country {country[:10]!r} must be a two-letter code")
        if a3 and not a1:
            raise UsageError("a city (A3) needs its state (A1)")
        for what, v in (("A1", a1), ("A3", a3)):
            if len(v) > 80 or not v.isprintable():
                raise UsageError(f"{what} must be at most 80 printable characters")
        return AnsweringPoint(name, uri, "admin", country=country.upper(), a1=a1, a3=a3, **sec)
    if a1 or a3:
        raise UsageError("an administrative area needs its country")
    return AnsweringPoint(name, uri, "default", **sec)


def _fold(s: str) -> str:
    return " ".join(s.split()).casefold()


def candidates(points: list[AnsweringPoint],
               location: dict[str, Any] | None) -> list[tuple[AnsweringPoint, str]]:
    """Every answering point that covers ``location``, best first (the order of :func:`choose`: GPS
    circles smallest first, then administrative areas most specific first, then defaults), one per URI:
    where an emergency call goes next when the one before fails."""
    geo = (location or {}).get("geo")
    civic = (location or {}).get("civic") or {}
    ranked: list[tuple[int, float, int, AnsweringPoint, str]] = []
    country = str(civic.get("country", "")).upper()
    for i, p in enumerate(points):
        if p.kind == "circle" and geo is not None:
            if distance_m(geo["lat"], geo["lon"], p.lat or 0.0, p.lon or 0.0) <= (p.radius_m or 0.0):
                ranked.append((0, p.radius_m or 0.0, i, p, "gps"))
        elif p.kind == "admin" and p.country == country:
            if p.a1 and _fold(p.a1) != _fold(str(civic.get("A1", ""))):
                continue
            if p.a3 and _fold(p.a3) != _fold(str(civic.get("A3", ""))):
                continue
            ranked.append((1, -(bool(p.a1) + bool(p.a3)), i, p, "civic"))
        elif p.kind == "default":
            ranked.append((2, 0.0, i, p, "default"))
    out: list[tuple[AnsweringPoint, str]] = []
    seen: set[str] = set()
    for *_, p, why in sorted(ranked, key=lambda r: r[:3]):
        if p.uri not in seen:
            seen.add(p.uri)
            out.append((p, why))
    return out


def choose(points: list[AnsweringPoint],
           location: dict[str, Any] | None) -> tuple[AnsweringPoint, str] | None:
    """The answering point for a box's ``location`` object (wire.location, or None) and why it was chosen
    (``gps`` | ``civic`` | ``default``); None when the directory has nothing that covers it."""
    found = candidates(points, location)
    return found[0] if found else None


def _issued_by(cert_der: bytes, ca_pem: str) -> bool:
    """The certificate is one of ``ca_pem``'s certificates or directly signed by one of them."""
    from cryptography import x509

    try:
        cert = x509.load_der_x509_certificate(cert_der)
        anchors = x509.load_pem_x509_certificates(ca_pem.encode("ascii"))
    except ValueError:
        return False
    for anchor in anchors:
        if anchor.public_bytes(_der()) == cert_der:
            return True
        try:
            cert.verify_directly_issued_by(anchor)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return True
    return False


def _der() -> Any:
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


def callback_source(points: list[AnsweringPoint], address: str, transport: str,
                    cert_der: bytes | None) -> AnsweringPoint | None:
    """The directory entry a call-back INVITE that came from ``address`` over ``transport`` (``udp`` |
    ``tls``, with the peer's verified client certificate ``cert_der``) belongs to; None: from nobody
    the directory knows (refused 403). An entry matches when the address is in its networks, the
    transport is the one its URI names, and for TLS the certificate has its fingerprint and/or chains
    directly to its CA (each that it gives)."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for p in points:
        try:
            if transport_of(p.uri) != transport:
                continue
        except UsageError:
            continue
        if not any(ip in ipaddress.ip_network(n) for n in callback_networks(p)
                   if ipaddress.ip_network(n).version == ip.version):
            continue
        if transport == "tls":
            if cert_der is None:
                continue
            if p.tls_fingerprint and fingerprint_of(cert_der) != p.tls_fingerprint:
                continue
            if p.tls_ca and not _issued_by(cert_der, p.tls_ca):
                continue
            if not (p.tls_fingerprint or p.tls_ca):
                continue
        return p
    return None
