from __future__ import annotations

import io
import json

import pytest

from roamline.hil.demo_events import TYPES, DemoEvents
from roamline.hil.errors import UsageError


def test_events_are_one_json_line_each_with_type_box_number_and_utc_time() -> None:
    out = io.StringIO()
    ev = DemoEvents(out, wall=lambda: 1_800_000_000.123)
    ev.emit("card.registered", box="box-a", number="+15550100001", holder="alice")
    ev.emit("media.verified", box="box-a", number=None, kind="tone", expected="1004 Hz")
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [e["type"] for e in lines] == ["card.registered", "media.verified"]
    assert lines[0] == {"type": "card.registered", "box": "box-a", "number": "+15550100001",
                        "at": "2027-01-15T08:00:00.123Z", "holder": "alice"}
    assert ev.events == lines


def test_unknown_types_and_overriding_the_envelope_are_refused() -> None:
    ev = DemoEvents()
    with pytest.raises(UsageError, match="no demo event type"):
        ev.emit("call.teleported", box=None, number=None)
    with pytest.raises(UsageError, match="set by emit"):
        ev.emit("call.ended", box=None, number=None, at="yesterday")
    assert {"call.ringing", "emergency.dialled", "cdr.recorded"} <= TYPES
