"""What the box process imports on its path (issue 9: the whole box's RSS ≤ 80 MB on a Pi).

A fresh interpreter imports what ``roamline box run`` imports for a box fed by gpsd (the sim and Pi
boards): the runtime, the location service, the GPS follower with its gpsd client, the readback text.
Modules only other paths need must not come with them: the NMEA parser (pynmea2: a serial GPS only),
the PIDF-LO builder with xml.etree (``diag location``), and no link message's pydantic adapter is built
before the message is first sent or received."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

BOX_PATH = textwrap.dedent("""
    import json, sys
    import roamline.firmware.run_cmd
    import roamline.firmware.runtime
    import roamline.firmware.location.follow
    import roamline.firmware.location.gpsd_client
    import roamline.firmware.location.readback
    from roamline.firmware.location.service import LocationService
    from roamline.wire import messages
    from roamline.wire.clock import SystemClock

    where = LocationService([], clock=SystemClock(), threshold_m=500.0)
    where.snapshot()
    built_at_import = len(messages._ADAPTERS)
    frame = messages.to_frame(messages.Ping(), id="1")
    decoded = messages.from_frame(frame)
    print(json.dumps({"modules": sorted(sys.modules), "built_at_import": built_at_import,
                      "built_after_ping": sorted(c.TYPE for c in messages._ADAPTERS),
                      "ping": decoded.message.TYPE, "types": len(messages.MESSAGE_TYPES)}))
""")

NOT_ON_THE_BOX_PATH = (
    "pynmea2",
    "roamline.firmware.location.nmea",
    "roamline.firmware.location.serial_source",
    "roamline.firmware.location.pidf",
    "xml.etree.ElementTree",
)


def _box_path() -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", BOX_PATH], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_box_path_does_not_import_what_only_other_paths_use() -> None:
    result = _box_path()
    modules = set(result["modules"])
    assert "roamline.firmware.runtime" in modules and "roamline.firmware.location.gpsd" in modules
    assert "aioquic.asyncio" in modules and "pydantic" in modules  # the check sees real imports
    assert sorted(modules & set(NOT_ON_THE_BOX_PATH)) == []


def test_link_message_adapters_are_built_on_first_use_only() -> None:
    result = _box_path()
    assert result["types"] > 40  # every type is registered
    assert result["built_at_import"] == 0
    assert result["built_after_ping"] == ["ping"] and result["ping"] == "ping"


def test_the_pidf_lo_builder_and_the_nmea_source_still_load_where_they_are_used() -> None:
    code = textwrap.dedent("""
        import sys
        from roamline.firmware.location.service import LocationService
        from roamline.wire.clock import SystemClock
        home = {"civic": {"country": "US", "A1": "IL", "A3": "Springfield", "RD": "Elm Street", "HNO": "12"},
                "method": "installer"}
        svc = LocationService([home], clock=SystemClock())
        before = "roamline.firmware.location.pidf" in sys.modules
        document = svc.pidf_lo("pres:b@box.roamline.invalid")
        from roamline.firmware.location import pidf
        import roamline.firmware.location.serial_source as s
        print(before, pidf.check_gml(document), s.SerialNmeaSource.__name__, "pynmea2" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    # not loaded until a document is built, then a valid PIDF-LO; the serial source brings the NMEA parser
    assert done.stdout.split() == ["False", "['civic']", "SerialNmeaSource", "True"]
