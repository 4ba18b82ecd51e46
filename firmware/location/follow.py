"""Feeding a LocationService from the board profile's GPS source, for the box runtime: one task that
reads gpsd (asyncio) or a serial NMEA receiver (blocking reads in a worker thread), hands every fix to the
service and sends the messages it returns. A lost source is retried with backoff; nothing here stops the
box (GPS is optional: the recorded address is what 911 needs)."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable

from roamline.board.profile import Gps
from roamline.firmware.location.errors import PeerError, UsageError
from roamline.firmware.location.gpsd_client import GpsdClient
from roamline.firmware.location.service import LocationService
from roamline.wire.messages import Message
from roamline.wire.session import Backoff

log = logging.getLogger(__name__)

Send = Callable[[Message], Awaitable[None]]
OnState = Callable[[bool, str], None]


async def follow_gps(gps: Gps, service: LocationService, send: Send, *,
                     backoff: Backoff | None = None, on_state: OnState | None = None) -> None:
    """Run until cancelled. ``send`` delivers a location message (the runtime's link request);
    ``on_state(ok, detail)`` hears the source opened, answering (a first fix) and lost."""
    if gps.gpsd is None and gps.serial is None:
        return  # the board has no GPS
    retry = backoff or Backoff(base_s=1.0, cap_s=60.0)
    attempt = 0
    tell = on_state or (lambda _ok, _detail: None)
    while True:
        started = time.monotonic()
        try:
            if gps.gpsd is not None:
                await _gpsd(gps.gpsd, service, send, tell)
            else:
                assert gps.serial is not None
                await _serial(gps.serial, gps.baud, service, send, tell)
        except PeerError as exc:
            log.warning("gps-lost", extra={"fields": {"error": str(exc)}})
            tell(False, f"lost: {exc}")
        attempt = 0 if time.monotonic() - started > 60 else min(attempt + 1, 64)  # it had been working
        await asyncio.sleep(retry.delay(attempt, random.random))


async def _deliver(service_msgs: list[Message], send: Send) -> None:
    for msg in service_msgs:
        try:
            await send(msg)
        except Exception as exc:  # the link is the runtime's; a failed report must not stop GPS
            log.warning("location-report-failed", extra={"fields": {"type": msg.TYPE, "error": str(exc)}})


async def _gpsd(address: str, service: LocationService, send: Send, tell: OnState) -> None:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"gps.gpsd {address!r} is not HOST:PORT")
    client = GpsdClient(host.strip("[]"), int(port), now=time.monotonic)
    await client.open()
    tell(True, f"gpsd {address} open, no fix yet")
    fixed = False
    try:
        async for fix in client.fixes():
            if not fixed:
                fixed = True
                tell(True, f"gpsd {address} answering")
            await _deliver(service.on_fix(fix), send)
    finally:
        await client.close()


async def _serial(device: str, baud: int, service: LocationService, send: Send, tell: OnState) -> None:
    from roamline.firmware.location.serial_source import SerialNmeaSource  # the NMEA parser: only here

    src = SerialNmeaSource(device, baud=baud, now=time.monotonic)
    await asyncio.to_thread(src.open)
    tell(True, f"{device} open, no fix yet")
    fixed = False
    try:
        while True:
            for fix in await asyncio.to_thread(src.read):  # the blocking read, behind an explicit bridge
                if not fixed:
                    fixed = True
                    tell(True, f"{device} answering")
                await _deliver(service.on_fix(fix), send)
    finally:
        await asyncio.to_thread(src.close)
