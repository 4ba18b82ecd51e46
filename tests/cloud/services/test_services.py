"""The local-services directory (issue 11 item 7, registry side): CSV import and nearest-within-radius."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.cli.main import main
from roamline.cloud.errors import UsageError
from roamline.cloud.records import Service
from roamline.cloud.services import nearest, parse_csv
from roamline.wire.geo import distance_m

CSV = """category,name,number,lat,lon,radius_m
pizza,Luigi's Downtown,+12175550101,39.8017,-89.6437,5000
pizza,Capitol Slice,+12175550102,39.7990,-89.6540,1500
pizza,Prairie Pies,+12175550103,39.7000,-89.7000,30000
city-services,Springfield 311,+12175550311,39.8017,-89.6437,20000
"""
BOX = (39.78172, -89.65015)  # 12 Elm Street (the rig's box)


def test_parse_and_pick_the_nearest_covering_service() -> None:
    svcs = parse_csv(CSV)
    assert len(svcs) == 4 and svcs[0] == Service("pizza", "Luigi's Downtown", "+12175550101", 39.8017,
                                                  -89.6437, 5000.0)
    svc, d = nearest(svcs, "pizza", *BOX)
    # Capitol Slice is nearest (≈ 2.0 km) but serves only 1.5 km; Luigi's (≈ 2.3 km, radius 5 km) serves it
    assert svc.name == "Luigi's Downtown" and d == pytest.approx(distance_m(*BOX, 39.8017, -89.6437))
    assert nearest(svcs, "pizza", 39.7990, -89.6540)[0].name == "Capitol Slice"
    assert nearest(svcs, "taxi", *BOX) is None
    assert nearest(svcs, "pizza", 41.88, -87.63) is None  # Chicago: nobody delivers that far


@pytest.mark.parametrize(("text", "message"), [
    ("name,category\n", "header"),
    (CSV + "pizza,X,+12175550199,39.8,-89.6\n", "line 6: expected 6 columns"),
    (CSV + "Pizza,X,+12175550199,39.8,-89.6,100\n", "line 6: category"),
    (CSV + "pizza,X,5550199,39.8,-89.6,100\n", "line 6: number"),
    (CSV + "pizza,X,+12175550199,91,-89.6,100\n", "line 6: lat"),
    (CSV + "pizza,X,+12175550199,39.8,-89.6,nan\n", "line 6: radius_m"),
    (CSV + "pizza,X,+12175550199,39.8,-89.6,0\n", "line 6: radius_m"),
    (CSV + "pizza,,+12175550199,39.8,-89.6,10\n", "line 6: name"),
    (CSV + "pizza,Again,+12175550101,39.8,-89.6,10\n", "listed twice"),
])
def test_bad_rows_are_refused_with_their_line(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_csv(text)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(39.5, 40.0), st.floats(-90.0, -89.3), st.floats(100, 50_000)),
                min_size=1, max_size=15),
       st.floats(39.5, 40.0), st.floats(-90.0, -89.3))
def test_nearest_is_the_minimum_over_covering_services(spots, lat: float, lon: float) -> None:
    svcs = [Service("pizza", f"p{i}", f"+1217555{i:04d}", a, b, r) for i, (a, b, r) in enumerate(spots)]
    found = nearest(svcs, "pizza", lat, lon)
    covering = [s for s in svcs if distance_m(lat, lon, s.lat, s.lon) <= s.radius_m]
    if not covering:
        assert found is None
    else:
        assert found is not None and found[0] in covering
        assert found[1] == min(distance_m(lat, lon, s.lat, s.lon) for s in covering)


def test_import_replaces_the_directory_and_nearest_answers(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "reg"
    assert main(["cloud", "ca", "init", "--data", str(data)]) == 0
    f = tmp_path / "services.csv"
    f.write_text(CSV)
    assert main(["cloud", "services", "import", str(f), "--data", str(data), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1]) == {"imported": 4,
                                                                   "categories": ["city-services", "pizza"]}
    assert main(["cloud", "services", "nearest", "pizza", "--lat", str(BOX[0]), "--lon", str(BOX[1]),
                 "--data", str(data), "--json"]) == 0
    out = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert out["found"] and out["number"] == "+12175550101" and 2000 < out["distance_m"] < 2600
    f.write_text("\n".join([*CSV.splitlines()[:1], *CSV.splitlines()[4:]]) + "\n")
    assert main(["cloud", "services", "import", str(f), "--data", str(data), "--json"]) == 0
    capsys.readouterr()
    assert main(["cloud", "services", "nearest", "pizza", "--lat", str(BOX[0]), "--lon", str(BOX[1]),
                 "--data", str(data), "--json"]) == 1  # replaced: no pizza any more
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["found"] is False


def test_a_bad_file_imports_nothing_and_fails_in_one_line(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "reg"
    assert main(["cloud", "ca", "init", "--data", str(data)]) == 0
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(CSV)
    bad.write_text(CSV + "pizza,X,notanumber,1,2,3\n")
    assert main(["cloud", "services", "import", str(good), "--data", str(data)]) == 0
    capsys.readouterr()
    assert main(["cloud", "services", "import", str(bad), "--data", str(data)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "line 6" in err[0]
    assert main(["cloud", "services", "nearest", "pizza", "--lat", "39.8017", "--lon", "-89.6437",
                 "--data", str(data), "--json"]) == 0  # the earlier directory is intact
