"""The box application: card, line, handset, audio, location, dial plan, call control, link client, store."""
