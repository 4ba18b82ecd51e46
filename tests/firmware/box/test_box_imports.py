"""What the box process imports on its path (issue 9: the whole box's RSS ≤ 80 MB on a Pi).

A fresh interpreter imports what ``roamline box run`` imports for a box fed by gpsd (the sim and Pi
boards): the runtime, the location service, the GPS follower with its gpsd client, the readback text.
Modules only other paths need must not come with them: the NMEA parser (pynmea2: a serial GPS only),
the PIDF-LO builder with xml.etree (``diag location``), and pydantic (issue 9: ≥ 8 MiB and a few hundred
ms of import; config, plans, profiles, the service state and link messages are msgspec types) — not
even once the box has loaded its configuration, plans and profiles and sent and received a message."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

BOX_PATH = textwrap.dedent("""
    import json, sys, tempfile
    from pathlib import Path
    import roamline.cli.main
    import roamline.firmware.commands
    import roamline.firmware.run_cmd
    import roamline.firmware.runtime
    import roamline.firmware.backends
    import roamline.firmware.location.follow
    import roamline.firmware.location.gpsd_client
    import roamline.firmware.location.readback
    from roamline.board.profile import load_profile
    from roamline.firmware import service_state
    from roamline.firmware.audio.tones import load_plan as tone_plan
    from roamline.firmware.config import load_box_config
    from roamline.firmware.dialplan.plan import load_plan as dial_plan
    from roamline.firmware.line.modem_profiles import all_profiles
    from roamline.firmware.location.service import LocationService
    from roamline.wire import calls, messages, voicemail
    from roamline.wire.clock import SystemClock

    where = LocationService([], clock=SystemClock(), threshold_m=500.0)
    where.snapshot()
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "box.toml"
        f.write_text('country = "US"\\n[line]\\nbackend = "serial"\\n[handset]\\nbackend = "gpio"\\n')
        config = load_box_config(f)
    load_profile(config.board), tone_plan(config.country), dial_plan(config.country), all_profiles()
    state = service_state.ServiceState(pid=1, heartbeat_s=5.0).with_peripheral("line", True, "ok", 1.0)
    assert service_state.decode(service_state.encode(state)) == state
    decoded = messages.from_frame(messages.to_frame(messages.Ping(), id="1"))
    offer = calls.CallOffer(call_id="box-a-0000000001", card_id="0" * 32, number="+15550100001", flow_id=4)
    assert messages.from_frame(messages.to_frame(offer, id="2")).message == offer
    audio = voicemail.VoicemailAudio(message_id="vm-0000000001", seq=0, last=True, audio=b"\\x7f" * 8)
    assert messages.from_frame(messages.to_frame(audio, re="3")).message == audio
    print(json.dumps({"modules": sorted(sys.modules), "ping": decoded.message.TYPE,
                      "types": len(messages.MESSAGE_TYPES)}))
""")

NOT_ON_THE_BOX_PATH = (
    "pynmea2",
    "roamline.firmware.location.nmea",
    "roamline.firmware.location.serial_source",
    "roamline.firmware.location.pidf",
    "xml.etree.ElementTree",
    "pydantic",
    "pydantic_core",
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
    assert sorted(modules & set(NOT_ON_THE_BOX_PATH)) == []
    assert "aioquic.asyncio" in modules and "msgspec" in modules  # the check sees real imports
    assert result["types"] > 40 and result["ping"] == "ping"  # every type is registered and works


def test_pydantic_is_still_there_for_the_rooms_that_use_it() -> None:
    """hil's rig files and provisioning's card files are pydantic models (not on the box's path)."""
    code = "import sys, roamline.hil.rig, roamline.provisioning.cardfile; print('pydantic' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["True"]


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
