"""Box identity and enrollment, card issuance, images, flashing and updates: `roamline provision …`."""
