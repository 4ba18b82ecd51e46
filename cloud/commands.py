"""Command table of `roamline cloud`: command words → leaf command module (see roamline.cli.tree)."""

COMMANDS: dict[str, str] = {
    "serve": "roamline.cloud.cmd.serve",
    "ca init": "roamline.cloud.cmd.ca_init",
    "token issue": "roamline.cloud.cmd.token_issue",
    "installer issue": "roamline.cloud.cmd.installer_issue",
    "account create": "roamline.cloud.cmd.account_create",
    "account add-number": "roamline.cloud.cmd.account_add_number",
    "card revoke": "roamline.cloud.cmd.card_revoke",
    "box revoke": "roamline.cloud.cmd.box_revoke",
    "where": "roamline.cloud.cmd.where",
    "services import": "roamline.cloud.cmd.services_import",
    "services nearest": "roamline.cloud.cmd.services_nearest",
    "calls": "roamline.cloud.cmd.calls",
    "emergencies": "roamline.cloud.cmd.emergencies",
    "line grant": "roamline.cloud.cmd.line_grant",
    "rights": "roamline.cloud.cmd.rights",
    "filters": "roamline.cloud.cmd.filters",
    "speed-dials": "roamline.cloud.cmd.speed_dials",
    "local-dials": "roamline.cloud.cmd.local_dials",
    "profile show": "roamline.cloud.cmd.profile_show",
    "profile set": "roamline.cloud.cmd.profile_set",
}
