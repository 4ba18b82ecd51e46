"""The handset (FXS port): hook, pulse and DTMF to typed events; tones, ringing, caller ID, status LED.

``events`` (what call control receives), ``ports`` (the small tone/DTMF/caller-ID interfaces it needs,
with adapters to ``firmware.audio``), ``controller`` (sans-I/O: edges, audio blocks and ``now`` in;
events, pin levels and audio out), ``audio`` (the profile's audio device, adapted to 8 kHz), ``runner``
(the threads that own the GPIO pins and the audio device and feed the controller).
"""
