"""Caller ID and message waiting, written once for the line and the handset (sans-I/O, bytes only).

:mod:`.codec` encodes and decodes the on-hook data messages (SDMF, MDMF, ETSI) and frames them out of a
byte stream; its :class:`~.codec.CallerId` is the one caller-ID type the line driver (what the exchange
told us), the handset path (what we tell the handset) and the FSK modem share.
"""
