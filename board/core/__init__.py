"""The hook / pulse-dial / ring core, in the MicroPython-compatible subset of Python.

Rules for every module here (checked by tests under real MicroPython and mpy-cross): no dataclasses, no
``match``, no ``from __future__``, no ``typing`` import, annotations only where MicroPython ignores them
(function signatures, variables; quoted when CPython could not evaluate them), time only as integer
millisecond ticks passed in by the caller and compared through ``roamline.board.compat``.
Events are plain tuples ``(kind, value, at_ticks)``; ``firmware/handset`` turns them into typed events.
"""
