"""Command table of `roamline provision`: command words → leaf command module (see roamline.cli.tree)."""

COMMANDS: dict[str, str] = {
}
