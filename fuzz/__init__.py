"""Fuzz harnesses (``make fuzz``); not part of the roamline package. See fuzz/run.py."""
