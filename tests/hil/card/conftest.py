"""Private pcscd + vpcd readers + virtual PIV cards (see roamline.hil.pytest_pcsc)."""

from roamline.hil.pytest_pcsc import card_ca, card_rig, pcscd  # noqa: F401  (fixtures)
