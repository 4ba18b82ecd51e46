"""Command table of `roamline box`: command words → leaf command module (see roamline.cli.tree)."""

COMMANDS: dict[str, str] = {
}
