"""Assembles a box from its configuration and runs it until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

from roamline.firmware.app import BoxApp
from roamline.firmware.card.pcsc import PyscardBackend
from roamline.firmware.card.reader import ReaderLoop
from roamline.firmware.config import BoxConfig, load_box_config
from roamline.firmware.errors import UsageError
from roamline.firmware.link.client import BoxIdentity, LinkClient, RegistryEndpoint
from roamline.firmware.store import BoxStore
from roamline.wire import identity
from roamline.wire.clock import SystemClock
from roamline.wire.messages import Envelope, Welcome
from roamline.wire.session import Backoff

log = logging.getLogger(__name__)


def load_identity(config: BoxConfig) -> BoxIdentity:
    try:
        key = identity.load_private_key_pem(config.identity.key.read_bytes())
        cert_pem = config.identity.cert.read_text(encoding="ascii")
    except OSError as exc:
        raise UsageError(f"box identity: {exc.strerror}: {exc.filename}") from None
    return BoxIdentity(key=key, cert_pem=cert_pem)


def endpoint(config: BoxConfig) -> RegistryEndpoint:
    try:
        ca_pem = config.registry.ca.read_bytes()
    except OSError as exc:
        raise UsageError(f"registry CA: {exc.strerror}: {exc.filename}") from None
    r = config.registry
    return RegistryEndpoint(host=r.host, port=r.port, server_name=r.server_name, ca_pem=ca_pem)


async def run_box(config_path: str | Path) -> None:
    config = load_box_config(config_path)
    box = load_identity(config)
    clock = SystemClock()
    store = BoxStore(config.data_dir / "box.db")
    store.open()
    # The app consumes both the link's and the readers' callbacks, and needs both to act: bind late.
    holder: list[BoxApp] = []

    async def on_up(welcome: Welcome) -> None:
        await holder[0].on_link_up(welcome)

    async def on_push(envelope: Envelope) -> None:
        await holder[0].on_push(envelope)

    lk = config.link
    link = LinkClient(endpoint(config), box, on_up=on_up, on_push=on_push, keepalive_s=lk.keepalive_s,
                      request_timeout_s=lk.request_timeout_s,
                      backoff=Backoff(base_s=lk.backoff_initial_s, cap_s=lk.backoff_max_s))
    readers = ReaderLoop(PyscardBackend(), lambda event: holder[0].card_sink(event), clock=clock,
                         readers=config.card.readers or None)
    app = BoxApp(box_id=box.box_id, readers=readers, link=link, store=store, clock=clock)
    holder.append(app)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    app.bind(loop)
    runner = asyncio.create_task(app.run(), name="box-app")
    readers.start()
    link.start()
    print(json.dumps({"box_id": box.box_id, "name": config.name, "state": "running"}), flush=True)
    try:
        await stop.wait()
    finally:
        readers.stop()
        await link.stop()
        runner.cancel()
        try:
            await runner
        except asyncio.CancelledError:
            pass
        store.close()
        print(json.dumps({"box_id": box.box_id, "state": "stopped"}), file=sys.stdout, flush=True)
