"""Hardware abstraction: board profiles, GPIO via gpiozero, MicroPython-compatible hook/ring/pulse core."""
