"""Command table of `roamline provision`: command words → leaf command module (see roamline.cli.tree)."""

COMMANDS: dict[str, str] = {
    "box enroll": "roamline.provisioning.box_enroll_cmd",
    "box list": "roamline.provisioning.box_list_cmd",
    "box label": "roamline.provisioning.box_label_cmd",
    "card issue": "roamline.provisioning.card_issue_cmd",
    "flash": "roamline.provisioning.flash_cmd",
    "image build": "roamline.provisioning.image_build_cmd",
    "update build": "roamline.provisioning.update_build_cmd",
    "update keygen": "roamline.provisioning.update_keygen_cmd",
}
