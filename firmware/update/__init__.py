"""Signed A/B application updates on the box: boot state, installer, health check."""
