"""`roamline box health --config box.toml`: is this box's firmware healthy — its link to the registry
comes up (QUIC + hello with the box's identity), its modem answers AT commands, pcscd answers and the
configured card readers are there. Prints one JSON object; exit 0 only if every check passed.

This is the health command a firmware update bundle names (``--health "roamline box health --config
/etc/roamline/box.toml"``): `roamline box update health` runs it in the new slot after its trial boot. Run
it while the box's own service is stopped or alongside it (it opens its own link and, with a modem
configured, the modem's serial device: on a running box pass ``--skip-line``).
"""

from __future__ import annotations

import argparse
from typing import Any

SUMMARY = "check the box's health: link to the registry up, modem answering, card readers present"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    parser.add_argument("--config", required=True, type=validate.ExistingFile(), help="box.toml")
    parser.add_argument("--timeout", type=validate.seconds(600.0), default=15.0,
                        help="seconds each check may take (default 15)")
    parser.add_argument("--skip-line", action="store_true", help="do not open the modem (the box uses it)")


def _link(cfg: Any, timeout: float) -> str:
    import asyncio

    from roamline.firmware.errors import UsageError
    from roamline.firmware.link.client import BoxIdentity, LinkClient, RegistryEndpoint
    from roamline.wire import identity, messages

    try:  # as the runtime does (firmware.runtime.load_identity/endpoint), without importing all of it
        box = BoxIdentity(key=identity.load_private_key_pem(cfg.identity.key.read_bytes()),
                          cert_pem=cfg.identity.cert.read_text(encoding="ascii"))
        r = cfg.registry
        registry = RegistryEndpoint(host=r.host, port=r.port, server_name=r.server_name,
                                    ca_pem=r.ca.read_bytes())
    except OSError as exc:
        raise UsageError(f"box identity or registry CA: {exc.strerror}: {exc.filename}") from None

    async def probe() -> str:
        welcomed: list[messages.Welcome] = []

        async def on_up(welcome: messages.Welcome) -> None:
            welcomed.append(welcome)

        async def on_push(_envelope: messages.Envelope) -> None:
            return None

        client = LinkClient(registry, box, on_up=on_up, on_push=on_push,
                            request_timeout_s=min(timeout, cfg.link.request_timeout_s))
        client.start()
        try:
            await client.wait_up(timeout)
        except TimeoutError:
            return "down: no welcome from the registry" + (" (box revoked)" if client.revoked else "")
        finally:
            await client.stop()
        return "up"

    return asyncio.run(probe())


def _line(cfg: Any, timeout: float) -> str:
    from roamline.firmware.errors import PeerError
    from roamline.firmware.line.serial_line import SerialLine
    from roamline.firmware.line.session import LineSession

    session = LineSession(None, command_timeout=timeout)
    try:
        with SerialLine(cfg.line.device, session) as line:
            line.kick()
            line.identify()
    except (PeerError, OSError) as exc:
        return f"not answering: {exc}"
    return "answering"


def _card(cfg: Any) -> str:
    from roamline.firmware.card.errors import CardError
    from roamline.firmware.card.pcsc import PyscardBackend

    backend = PyscardBackend()
    try:
        ctx = backend.establish()
        try:
            readers = backend.list_readers(ctx)
        finally:
            backend.release(ctx)
    except CardError as exc:
        return f"pcscd not answering: {exc}"
    missing = [r for r in cfg.card.readers if r not in readers]
    if missing:
        return f"readers missing: {', '.join(missing)}"
    return f"{len(readers)} reader(s)"


def run(args: argparse.Namespace) -> int:
    import json

    from roamline.firmware.config import load_box_config
    from roamline.firmware.errors import PeerError

    cfg = load_box_config(args.config)
    link = _link(cfg, args.timeout)
    checks: dict[str, tuple[bool, str]] = {"link": (link == "up", link)}
    if cfg.line.backend != "none" and cfg.line.device and not args.skip_line:
        line = _line(cfg, args.timeout)
        checks["line"] = (line == "answering", line)
    if cfg.card.backend != "none":
        card = _card(cfg)
        checks["card"] = (card.endswith("reader(s)"), card)
    healthy = all(ok for ok, _ in checks.values())
    print(json.dumps({"healthy": healthy, **{name: text for name, (_, text) in checks.items()}}))
    if not healthy:
        raise PeerError("not healthy: " + "; ".join(f"{n} {t}" for n, (ok, t) in checks.items() if not ok))
    return 0
