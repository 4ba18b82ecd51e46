"""Command table of `roamline cloud`: command words → leaf command module (see roamline.cli.tree)."""

COMMANDS: dict[str, str] = {
    "serve": "roamline.cloud.cmd.serve",
    "ca init": "roamline.cloud.cmd.ca_init",
    "token issue": "roamline.cloud.cmd.token_issue",
    "account create": "roamline.cloud.cmd.account_create",
    "account add-number": "roamline.cloud.cmd.account_add_number",
    "card revoke": "roamline.cloud.cmd.card_revoke",
    "box revoke": "roamline.cloud.cmd.box_revoke",
    "where": "roamline.cloud.cmd.where",
    "calls": "roamline.cloud.cmd.calls",
    "line grant": "roamline.cloud.cmd.line_grant",
}
