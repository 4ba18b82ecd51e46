"""Command tables of `roamline hil`, `roamline demo` and `roamline bench` (see roamline.cli.tree)."""

COMMANDS: dict[str, str] = {
    "card serve": "roamline.hil.card.serve_cmd",
    "exchange run": "roamline.hil.exchange.run_cmd",
    "exchange call": "roamline.hil.exchange.call_cmd",
    "exchange send": "roamline.hil.exchange.send_cmd",
}

DEMO: dict[str, str] = {
}

BENCH: dict[str, str] = {
}
