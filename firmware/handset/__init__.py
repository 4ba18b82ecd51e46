"""The handset (FXS port): hook, pulse and DTMF to typed events; tones, ringing, caller ID, status LED.

``events`` (what call control receives), ``ports`` (the small audio interfaces it needs, with adapters
to ``firmware.audio``), ``controller`` (sans-I/O: edges, audio blocks and ``now`` in; events, pin levels
and audio out), ``runner`` (the thread that owns the GPIO pins and feeds the controller).
"""
