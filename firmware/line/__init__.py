"""The phone line: a V.253 voice-modem driver (sans-I/O cores plus a thin pyserial adapter).

Cores: :mod:`.at` (AT dialogue), :mod:`.callerid` (caller-ID assembly), :mod:`.dle` (voice data
shielding and DLE events), :mod:`.calls` (call state table), :mod:`.session` (the line logic tying them
together). Adapter: :mod:`.serial_line`. Modem differences are data: :mod:`.profiles`.
"""
