"""A box's location as a PIDF-LO document (RFC 4119 + RFC 5139 civic address + RFC 5491 geodetic
shape), and the checks a receiver would make. In wire because both ends make it: the box (``box diag
location``) and the cloud's emergency route (the PIDF-LO by value in the SIP INVITE, :func:`from_snapshot`).

Layout (RFC 5491 §3: one location per ``geopriv``; civic and geodetic in separate tuples, the recorded
civic address first because it is what an answering point dispatches to):

- tuple ``civic``: ``ca:civicAddress`` (RFC 5139 elements in schema order), method ``Manual`` (recorded by
  the installer or operator), ``timestamp`` = when it was last confirmed;
- tuple ``geo`` (only with a valid, fresh GPS fix): a ``gs:Circle`` (centre ``gml:pos`` "lat lon", radius in
  metres, ``urn:ogc:def:uom:EPSG::9001``) in ``urn:ogc:def:crs:EPSG::4326``, or a ``gml:Point`` when there
  is no error estimate; method ``GPS``; ``timestamp`` = the fix.

The circle's radius is the 95 % radius RFC 5491 §5 asks for: the receiver's error estimate (taken as a
68 % radius) × 1.62 (the 95/68 ratio of a circular normal distribution). This is an assumption.

:func:`validate` checks a document with ``xmlschema`` against the schemas the RFCs print (``schemas/``);
RFC 4119 admits any foreign element in ``location-info`` (``processContents="lax"``), so
:func:`check_gml` checks the RFC 5491 subset we use: every ``location-info`` holds exactly one location;
a shape is ``gml:Point`` (srsName EPSG::4326 with 2 coordinates, or EPSG::4979 with 3) or ``gs:Circle``
(EPSG::4326, one ``gml:pos`` with 2 coordinates, one ``gs:radius`` > 0 with uom EPSG::9001); coordinates
are finite decimals with latitude in [-90, 90] and longitude in [-180, 180]; no other shape.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roamline.wire import civic as civic_rules
from roamline.wire.errors import PeerError, UsageError

PIDF = "urn:ietf:params:xml:ns:pidf"
GP = "urn:ietf:params:xml:ns:pidf:geopriv10"
GBP = "urn:ietf:params:xml:ns:pidf:geopriv10:basicPolicy"
CA = "urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr"
GML = "http://www.opengis.net/gml"
GS = "http://www.opengis.net/pidflo/1.0"
XML_NS = "http://www.w3.org/XML/1998/namespace"
EPSG_2D = "urn:ogc:def:crs:EPSG::4326"
EPSG_3D = "urn:ogc:def:crs:EPSG::4979"
METRE = "urn:ogc:def:uom:EPSG::9001"
R95_PER_R68 = 1.62

SCHEMA_DIR = Path(__file__).with_name("pidf_schemas")

for _prefix, _ns in (("gp", GP), ("gbp", GBP), ("ca", CA), ("gml", GML), ("gs", GS)):
    ET.register_namespace(_prefix, _ns)
ET.register_namespace("", PIDF)


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def _iso(wall: float) -> str:
    return dt.datetime.fromtimestamp(wall, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _num(x: float) -> str:
    return f"{x:.7f}".rstrip("0").rstrip(".")


@dataclass(frozen=True, slots=True)
class Position:
    """A valid GPS position for the geodetic tuple: ``error_m`` is the 68 % horizontal error (None: a
    point with no circle); ``wall`` the fix's wall-clock time."""

    lat: float
    lon: float
    error_m: float | None
    wall: float


def build(*, entity: str, civic: dict[str, str], civic_at: float, position: Position | None = None,
          retention_s: float = 86400.0, lang: str = "en-US") -> bytes:
    """A PIDF-LO document (UTF-8 bytes). ``civic`` must be a dispatchable address (wire.civic rules);
    ``position`` a valid fix (judged by the caller)."""
    if not entity.startswith("pres:"):
        raise UsageError("a PIDF entity is a pres: URI")
    address = civic_rules.check_civic(civic)
    root = ET.Element(_q(PIDF, "presence"), {"entity": entity})
    _tuple(root, "civic", _civic_element(address, lang), "Manual", civic_at, retention_s)
    if position is not None:
        if not (math.isfinite(position.lat) and math.isfinite(position.lon) and math.isfinite(position.wall)):
            raise UsageError("a geodetic tuple needs a finite position and wall-clock time")
        _tuple(root, "geo", _shape(position), "GPS", position.wall, retention_s)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def from_snapshot(snapshot: dict[str, Any], *, entity: str, now: float) -> bytes:
    """The PIDF-LO of a ``location`` object (wire.location; checked here): its civic address, and its
    ``geo`` fix when it has one. ``now`` (wall seconds) stamps the civic tuple."""
    from roamline.wire.location import check_snapshot

    loc = check_snapshot(snapshot)
    geo = loc.get("geo")
    position = None
    if geo is not None:
        position = Position(lat=geo["lat"], lon=geo["lon"], error_m=geo["error_m"], wall=geo["at"])
    return build(entity=entity, civic=loc["civic"], civic_at=now, position=position)


def _civic_element(address: dict[str, str], lang: str) -> ET.Element:
    el = ET.Element(_q(CA, "civicAddress"), {_q(XML_NS, "lang"): lang})
    for name in civic_rules.CIVIC_ELEMENTS:  # the schema's sequence order
        if name in address:
            ET.SubElement(el, _q(CA, name)).text = address[name]
    return el


def _shape(fix: Position) -> ET.Element:
    pos = f"{_num(fix.lat)} {_num(fix.lon)}"
    if fix.error_m is None:
        point = ET.Element(_q(GML, "Point"), {"srsName": EPSG_2D})
        ET.SubElement(point, _q(GML, "pos")).text = pos
        return point
    circle = ET.Element(_q(GS, "Circle"), {"srsName": EPSG_2D})
    ET.SubElement(circle, _q(GML, "pos")).text = pos
    ET.SubElement(circle, _q(GS, "radius"), {"uom": METRE}).text = f"{fix.error_m * R95_PER_R68:.1f}"
    return circle


def _tuple(root: ET.Element, tid: str, location: ET.Element, method: str, at: float,
           retention_s: float) -> None:
    tup = ET.SubElement(root, _q(PIDF, "tuple"), {"id": tid})
    status = ET.SubElement(tup, _q(PIDF, "status"))
    geopriv = ET.SubElement(status, _q(GP, "geopriv"))
    ET.SubElement(geopriv, _q(GP, "location-info")).append(location)
    rules = ET.SubElement(geopriv, _q(GP, "usage-rules"))
    ET.SubElement(rules, _q(GBP, "retransmission-allowed")).text = "true"  # responders need it forwarded
    ET.SubElement(rules, _q(GBP, "retention-expiry")).text = _iso(at + retention_s)
    ET.SubElement(geopriv, _q(GP, "method")).text = method
    ET.SubElement(tup, _q(PIDF, "timestamp")).text = _iso(at)


# --- checks --------------------------------------------------------------------------------------------


@functools.cache
def _schema() -> Any:
    import xmlschema

    locations = [(GP, str(SCHEMA_DIR / "geopriv10.xsd")), (GBP, str(SCHEMA_DIR / "geopriv10basicPolicy.xsd")),
                 (CA, str(SCHEMA_DIR / "civicAddr.xsd"))]
    return xmlschema.XMLSchema10(str(SCHEMA_DIR / "pidf.xsd"), locations=locations, allow="local")


def schema_errors(document: bytes) -> list[str]:
    """What the RFC 3863/4119/5139 schemas say is wrong (empty when the document is valid)."""
    try:
        tree = ET.fromstring(document)
    except ET.ParseError as exc:
        return [f"not XML: {exc}"]
    return [str(e.reason or e.message) for e in _schema().iter_errors(tree)]


def validate(document: bytes) -> None:
    """PeerError unless the document passes the schemas and the RFC 5491 subset check."""
    errors = schema_errors(document)
    if errors:
        raise PeerError(f"PIDF-LO fails its schemas: {errors[0]}")
    check_gml(document)


def _coords(pos: ET.Element | None, n: int, what: str) -> list[float]:
    if pos is None or not (pos.text or "").strip():
        raise PeerError(f"{what}: no gml:pos")
    parts = (pos.text or "").split()
    if len(parts) != n:
        raise PeerError(f"{what}: gml:pos needs {n} coordinates, has {len(parts)}")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise PeerError(f"{what}: gml:pos is not numbers") from None
    if not all(math.isfinite(v) for v in values):
        raise PeerError(f"{what}: gml:pos is not finite")
    lat, lon = values[0], values[1]
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise PeerError(f"{what}: latitude/longitude out of range")
    return values


def check_gml(document: bytes) -> list[str]:
    """The RFC 5491 subset (module docstring); returns the location kinds found, tuple by tuple."""
    try:
        root = ET.fromstring(document)
    except ET.ParseError as exc:
        raise PeerError(f"PIDF-LO is not XML: {exc}") from None
    kinds: list[str] = []
    for info in root.iter(_q(GP, "location-info")):
        children = list(info)
        if len(children) != 1:
            raise PeerError(f"a location-info must hold exactly one location, holds {len(children)}")
        shape = children[0]
        srs = shape.get("srsName")
        if shape.tag == _q(CA, "civicAddress"):
            kinds.append("civic")
        elif shape.tag == _q(GML, "Point"):
            if srs not in (EPSG_2D, EPSG_3D):
                raise PeerError(f"gml:Point srsName {srs!r} is not EPSG::4326 or EPSG::4979")
            if len(list(shape)) != 1:
                raise PeerError("gml:Point must hold exactly one gml:pos")
            _coords(shape.find(_q(GML, "pos")), 2 if srs == EPSG_2D else 3, "gml:Point")
            kinds.append("point")
        elif shape.tag == _q(GS, "Circle"):
            if srs != EPSG_2D:
                raise PeerError(f"gs:Circle srsName {srs!r} is not EPSG::4326")
            if [c.tag for c in shape] != [_q(GML, "pos"), _q(GS, "radius")]:
                raise PeerError("gs:Circle must hold gml:pos then gs:radius")
            _coords(shape.find(_q(GML, "pos")), 2, "gs:Circle")
            radius = shape.find(_q(GS, "radius"))
            assert radius is not None
            if radius.get("uom") != METRE:
                raise PeerError("gs:radius must be in metres (urn:ogc:def:uom:EPSG::9001)")
            try:
                r = float(radius.text or "")
            except ValueError:
                raise PeerError("gs:radius is not a number") from None
            if not (math.isfinite(r) and r > 0):
                raise PeerError("gs:radius must be a positive number")
            kinds.append("circle")
        else:
            raise PeerError(f"location shape {shape.tag} is not in the subset used (Point, Circle, civic)")
    if not kinds:
        raise PeerError("PIDF-LO has no location-info")
    return kinds
