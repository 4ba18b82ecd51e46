"""Command tables of `roamline hil`, `roamline demo` and `roamline bench` (see roamline.cli.tree)."""

COMMANDS: dict[str, str] = {
    "card serve": "roamline.hil.card.serve_cmd",
}

DEMO: dict[str, str] = {
}

BENCH: dict[str, str] = {
}
