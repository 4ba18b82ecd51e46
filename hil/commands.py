"""Command tables of `roamline hil`, `roamline demo` and `roamline bench` (see roamline.cli.tree)."""

COMMANDS: dict[str, str] = {
}

DEMO: dict[str, str] = {
}

BENCH: dict[str, str] = {
}
