"""Command table of `roamline box`: command words → leaf command module (see roamline.cli.tree)."""

COMMANDS: dict[str, str] = {
    "run": "roamline.firmware.run_cmd",
    "diag dtmf": "roamline.firmware.audio.dtmf_cmd",
    "diag callerid": "roamline.firmware.audio.callerid_cmd",
    "diag modem": "roamline.firmware.line.diag_cmd",
    "diag gps": "roamline.firmware.location.diag_gps_cmd",
    "diag location": "roamline.firmware.location.diag_location_cmd",
    "health": "roamline.firmware.update.probe_cmd",
    "update apply": "roamline.firmware.update.apply_cmd",
    "update boot": "roamline.firmware.update.boot_cmd",
    "update health": "roamline.firmware.update.health_cmd",
    "update status": "roamline.firmware.update.status_cmd",
}
