"""Adapter: gpsd over TCP (asyncio). Connects, asks for JSON reports (``?WATCH``) and feeds what arrives
to the sans-I/O :class:`GpsdDecoder`. Construction does no I/O; ``open``/``close`` are explicit and
idempotent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from roamline.firmware.location.errors import PeerError, UsageError
from roamline.firmware.location.fix import Fix
from roamline.firmware.location.gpsd import GpsdDecoder

WATCH = b'?WATCH={"enable":true,"json":true};\n'


class GpsdClient:
    def __init__(self, host: str, port: int, *, now: Callable[[], float],
                 decoder: GpsdDecoder | None = None) -> None:
        if not (0 < port < 65536):
            raise UsageError(f"gpsd port {port} is out of range")
        self._host, self._port, self._now = host, port, now
        self.decoder = decoder or GpsdDecoder()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        if self._writer is not None:
            return
        try:
            async with asyncio.timeout(timeout):
                self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        except OSError as exc:  # TimeoutError is an OSError
            raise PeerError(f"cannot reach gpsd at {self._host}:{self._port}: {exc or 'timed out'}") from None
        self._writer.write(WATCH)
        await self._writer.drain()

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass

    async def fixes(self) -> AsyncIterator[Fix]:
        """Fixes as gpsd reports them, until gpsd closes the connection (then PeerError)."""
        if self._reader is None:
            raise UsageError("open() the gpsd client first")
        while True:
            data = await self._reader.read(4096)
            if not data:
                raise PeerError("gpsd closed the connection")
            for fix in self.decoder.feed(data, self._now()):
                yield fix
