"""Event kinds of the core. An event is a tuple ``(kind, value, at)``: ``at`` is the tick the thing
happened (not when it was decided), ``value`` depends on the kind (0 when unused)."""

OFF_HOOK = 1  # value: 1 if it tripped ringing, else 0
ON_HOOK = 2  # hang-up; at = start of the on-hook period
FLASH = 3  # value: on-hook duration in ms; at = end of the flash
DIGIT = 4  # value: 0-9 decoded from dial pulses; at = end of the last pulse
GLITCH = 5  # an on-hook period fitting no window (ignored); value: its duration in ms
BAD_DIGIT = 6  # a pulse train of more than 10 pulses (ignored); value: the count
RING_BURST = 7  # a ringing burst started; value: burst index from 0
RING_PAUSE = 8  # a ringing burst ended (silence follows); value: burst index from 0
RING_DONE = 9  # the asked-for number of cadence cycles ended; value: bursts rung
RING_TRIP = 10  # ringing stopped because the handset was lifted; value: ms from lift to stop

NAMES = {
    OFF_HOOK: "off-hook",
    ON_HOOK: "on-hook",
    FLASH: "flash",
    DIGIT: "digit",
    GLITCH: "glitch",
    BAD_DIGIT: "bad-digit",
    RING_BURST: "ring-burst",
    RING_PAUSE: "ring-pause",
    RING_DONE: "ring-done",
    RING_TRIP: "ring-trip",
}
