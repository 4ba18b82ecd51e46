"""Command tables of `roamline hil`, `roamline demo` and `roamline bench` (see roamline.cli.tree)."""

COMMANDS: dict[str, str] = {
    "card serve": "roamline.hil.card.serve_cmd",
    "pcscd run": "roamline.hil.pcscd_cmd",
    "exchange run": "roamline.hil.exchange.run_cmd",
    "exchange call": "roamline.hil.exchange.call_cmd",
    "exchange send": "roamline.hil.exchange.send_cmd",
    "handset": "roamline.hil.handset_cmd",
}

DEMO: dict[str, str] = {
    "": "roamline.hil.demo",
}

BENCH: dict[str, str] = {
    "line": "roamline.hil.bench_line",
    "handset": "roamline.hil.bench_handset",
    "register": "roamline.hil.bench_register",
    "flash": "roamline.hil.bench_flash",
    "flood": "roamline.hil.bench_flood",
    "resample": "roamline.hil.bench_resample",
    "calls": "roamline.hil.bench_calls",
    "e911": "roamline.hil.bench_e911",
    "box": "roamline.hil.bench_box",
}
