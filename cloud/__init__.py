"""The cloud registry: accounts, cards, boxes, registrations, router, relay, storage, `roamline cloud …`."""
