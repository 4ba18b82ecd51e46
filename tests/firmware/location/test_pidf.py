"""PIDF-LO: the document validates against the schemas printed in RFC 3863/4119/5139 (xmlschema) and the
RFC 5491 GML subset check; broken documents are caught by one or the other."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.firmware.location import pidf
from roamline.firmware.location.fix import Fix, Quality
from roamline.wire.civic import CIVIC_ELEMENTS
from roamline.wire.errors import PeerError, UsageError

HOME = {"country": "US", "A1": "IL", "A3": "Springfield", "RD": "Elm Street", "HNO": "12", "FLR": "2",
        "ROOM": "201", "PC": "62701"}
FIX = Fix(at=0.0, mode=3, quality=Quality.GPS, lat=39.78172, lon=-89.65015, error_m=5.0)
WALL = 1_800_000_000.0


def doc(**kw) -> bytes:
    args = {"entity": "pres:box-1@box.roamline.invalid", "civic": HOME, "civic_at": WALL, "fix": FIX,
            "fix_wall": WALL, **kw}
    return pidf.build(**args)


def test_civic_and_circle_document_is_schema_valid_and_in_the_5491_subset() -> None:
    d = doc()
    assert pidf.schema_errors(d) == []
    assert pidf.check_gml(d) == ["civic", "circle"]
    pidf.validate(d)
    assert b"<gs:radius uom=\"urn:ogc:def:uom:EPSG::9001\">8.1</gs:radius>" in d  # 5 m × 1.62 (95 %)
    assert b"<ca:ROOM>201</ca:ROOM>" in d and b"<gp:method>GPS</gp:method>" in d


def test_without_gps_only_the_civic_tuple_and_without_error_a_point() -> None:
    assert pidf.check_gml(doc(fix=None)) == ["civic"]
    d = doc(fix=Fix(at=0.0, mode=3, quality=Quality.GPS, lat=1.0, lon=2.0))
    assert pidf.check_gml(d) == ["civic", "point"] and pidf.schema_errors(d) == []


@pytest.mark.parametrize(("old", "new", "what"), [
    (b"<ca:country>US</ca:country>", b"<ca:country>usa</ca:country>", "pattern"),
    (b"<ca:HNO>12</ca:HNO><ca:FLR>", b"<ca:FLR>", "order"),  # HNO moved after FLR below
    (b"<gbp:retransmission-allowed>true", b"<gbp:retransmission-allowed>yes please", "boolean"),
    (b"<timestamp>", b"<timestamp>yesterday", "dateTime"),
    (b' entity="pres:box-1@box.roamline.invalid"', b"", "entity"),
    (b"<gp:method>GPS</gp:method>", b"<gp:method>GPS</gp:method><gp:method>GPS</gp:method>", "method twice"),
])
def test_the_schemas_catch_broken_documents(old: bytes, new: bytes, what: str) -> None:
    d = doc()
    assert old in d
    bad = d.replace(old, new, 1)
    if what == "order":
        bad = bad.replace(b"</ca:FLR>", b"</ca:FLR><ca:HNO>12</ca:HNO>", 1)
    assert pidf.schema_errors(bad), what


@pytest.mark.parametrize(("old", "new", "message"), [
    (b"urn:ogc:def:crs:EPSG::4326", b"urn:ogc:def:crs:EPSG::3857", "srsName"),
    (b"39.78172 -89.65015", b"99.78172 -89.65015", "out of range"),
    (b"39.78172 -89.65015", b"39.78172", "2 coordinates"),
    (b">8.1<", b">-3<", "positive"),
    (b"urn:ogc:def:uom:EPSG::9001", b"urn:ogc:def:uom:EPSG::9002", "metres"),
    (b"<gs:Circle", b"<gml:Polygon", "not in the subset"),
    (b"</gs:Circle></gp:location-info>", b"</gs:Circle><gml:Point srsName=\"urn:ogc:def:crs:EPSG::4326\">"
     b"<gml:pos>1 2</gml:pos></gml:Point></gp:location-info>", "exactly one location"),
])
def test_the_gml_check_catches_what_the_lax_schema_lets_through(old: bytes, new: bytes, message: str) -> None:
    d = doc()
    assert old in d
    bad = d.replace(old, new, 1)
    if b"gml:Polygon" in bad:
        bad = bad.replace(b"</gs:Circle>", b"</gml:Polygon>")
    assert pidf.schema_errors(bad) == []  # lax: the RFC 4119 schema does not look inside location-info
    with pytest.raises(PeerError, match=message):
        pidf.validate(bad)


def test_build_refuses_a_non_dispatchable_address_and_a_bad_entity() -> None:
    from roamline.wire.errors import UsageError as WireUsageError

    with pytest.raises(WireUsageError):
        doc(civic={**HOME, "POBOX": "12"})
    with pytest.raises(UsageError):
        doc(entity="sip:box@example.invalid")


text = st.text(st.characters(codec="utf-8", exclude_categories=("C", "Z")), min_size=1, max_size=20)


@settings(max_examples=60, deadline=None)
@given(extra=st.dictionaries(st.sampled_from([e for e in CIVIC_ELEMENTS if e not in ("country", "POBOX")]),
                             text, max_size=8),
       lat=st.floats(-90, 90), lon=st.floats(-180, 180), err=st.one_of(st.none(), st.floats(0.1, 500)))
def test_any_dispatchable_address_and_valid_fix_builds_a_valid_document(extra, lat, lon, err) -> None:
    civic = {**HOME, **extra}
    d = doc(civic=civic, fix=Fix(at=0.0, mode=3, quality=Quality.GPS, lat=lat, lon=lon, error_m=err))
    assert pidf.schema_errors(d) == []
    assert pidf.check_gml(d) == ["civic", "circle" if err is not None else "point"]
