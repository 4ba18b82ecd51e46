"""Telephone-exchange simulator: lines with V.253 voice-modem simulators on ptys, scriptable PSTN phones.

Entry points: :class:`roamline.hil.exchange.runner.ExchangeRunner` (threads + ptys, for tests and the
``roamline hil exchange run`` command) around the sans-I/O :class:`~roamline.hil.exchange.core.Exchange`
and :class:`~roamline.hil.exchange.modem.ModemSim`. This package never imports firmware/line: the
simulators are independent protocol peers.
"""
