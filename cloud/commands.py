"""Command table of `roamline cloud`: command words → leaf command module (see roamline.cli.tree)."""

COMMANDS: dict[str, str] = {
}
