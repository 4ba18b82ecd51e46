from __future__ import annotations

import pytest

from roamline.wire.civic import describe, parse_civic
from roamline.wire.errors import UsageError


def test_parse_and_describe() -> None:
    civic = parse_civic(["country=US", "a1=IL", "A3=Springfield", "HNO=12", "RD=Elm Street", "FLR=2",
                         "ROOM=201", "PC=62701"])
    assert civic["A1"] == "IL" and civic["RD"] == "Elm Street"
    assert describe({"civic": civic}) == "12 Elm Street, floor 2, room 201, Springfield IL 62701, US"


@pytest.mark.parametrize(("pairs", "fragment"), [
    (["country=US", "STREET=Elm"], "'STREET'"),
    (["country=US", "HNO"], "expected NAME=VALUE"),
    (["country=US", "RD= "], "RD is empty"),
    (["RD=Elm Street"], "needs its country"),
])
def test_bad_civic_input(pairs: list[str], fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment):
        parse_civic(pairs)


def test_describe_nothing() -> None:
    assert describe(None) == "" and describe({"geo": {}}) == ""
