"""Adapter: an NMEA receiver on a serial port (pyserial), for boxes with no gpsd. Blocking: the runtime
runs ``read`` in a worker thread (an explicit bridge), never on the event loop. Ptys work as ports (they
have no modem-control lines, which this adapter never touches)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from roamline.firmware.location.errors import PeerError, UsageError
from roamline.firmware.location.fix import Fix
from roamline.firmware.location.nmea import NmeaDecoder


class SerialNmeaSource:
    def __init__(self, device: str, *, baud: int = 9600, now: Callable[[], float],
                 decoder: NmeaDecoder | None = None) -> None:
        if baud <= 0:
            raise UsageError("baud must be positive")
        self._device, self._baud, self._now = device, baud, now
        self.decoder = decoder or NmeaDecoder(source=f"serial:{device}")
        self._port: Any = None

    def open(self) -> None:
        if self._port is not None:
            return
        import serial

        try:
            self._port = serial.serial_for_url(self._device, baudrate=self._baud, timeout=0.2)
        except (OSError, ValueError) as exc:  # serial.SerialException is an OSError
            raise PeerError(f"cannot open GPS receiver {self._device}: {exc}") from None

    def close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            port.close()

    def read(self) -> list[Fix]:
        """What arrived within one read timeout (0.2 s), decoded."""
        if self._port is None:
            raise UsageError("open() the serial source first")
        try:
            data = self._port.read(max(1, self._port.in_waiting or 1))
        except OSError as exc:  # serial.SerialException is an OSError
            raise PeerError(f"GPS receiver {self._device} failed: {exc}") from None
        return self.decoder.feed(data, self._now()) if data else []

    def __enter__(self) -> SerialNmeaSource:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
