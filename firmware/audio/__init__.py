"""Handset and line audio: device backends, G.711, resampling, tone plans, jitter buffer + PLC, echo
cancellation (and, from another module set, DTMF and FSK).

Conventions for the whole package: samples are mono int16 numpy arrays; the telephony rate is 8000 Hz;
a frame is 20 ms (160 samples) unless a constructor says otherwise. Importing this package imports nothing
heavy; import the module you need (``roamline.firmware.audio.g711`` …).
"""
