"""`roamline box health --config box.toml`: is this box's firmware healthy — its link to the registry is
up, its modem answers, pcscd answers and the configured card readers are there. Prints one JSON object
(``"source"`` says where the answer came from); exit 0 only if every check passed.

With the box service running (``roamline box run``), the answer is the service's own published state
(``[state] file``, default ``DATA_DIR/service-state.json``: ``firmware.service_state``): the link the
service holds, the peripherals it has open. Nothing is opened: a second link with the box's identity would
knock the service's link off (the registry keeps the newest connection per box). The state must be
fresh (a heartbeat within three periods, the same boot) and its process alive; a stale, malformed or
gone service is a failure with its reason. ``--timeout`` is how long to wait for the service to become
healthy (a box just booted is still linking up).

Only when no service runs — no state file, or the last service stopped cleanly — does the command probe by
itself (``"source": "probe"``): its own link (QUIC + hello), the modem's serial device (``--skip-line``
to leave it alone), pcscd. ``--source service`` never probes (a missing state is then a failure: the
service must run), ``--source probe`` always does.

This is the health command a firmware update bundle names (``--health "roamline box health --config
/etc/roamline/box.toml --source service"``): `roamline box update health` runs it for the new slot after
its trial boot, with ``ROAMLINE_SLOT`` set to that slot; a service that runs another slot is not it.
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
    parser.add_argument("--source", choices=("auto", "service", "probe"), default="auto",
                        help="auto (default): the running service's state, else an own probe; "
                             "service: only the service's state; probe: only an own probe")


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


def _read_service(path: Any) -> tuple[str, Any]:
    """("missing" | "stopped" | "unreadable" | "state", the state or the reason)."""
    from roamline.firmware.errors import PeerError
    from roamline.firmware.service_state import decode

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return "missing", f"no box service state at {path}"
    except OSError as exc:
        return "unreadable", f"{path}: {exc.strerror or exc}"
    try:
        state = decode(data)
    except PeerError as exc:
        return "unreadable", f"{path}: {exc}"
    return ("stopped" if state.phase == "stopped" else "state"), state


def _from_service(cfg: Any, timeout: float, first: tuple[str, Any]) -> tuple[bool, dict[str, Any], str]:
    """Poll the service's state until it is healthy or ``timeout`` passes; the last verdict."""
    import os
    import time

    import msgspec

    from roamline.firmware.service_state import assess
    from roamline.firmware.state_file import boot_id, pid_alive

    path = cfg.state.file
    me, expected = boot_id(), os.environ.get("ROAMLINE_SLOT") or None
    deadline = time.monotonic() + timeout
    kind, got = first
    while True:
        if kind in ("state", "stopped"):
            v = assess(got, boot_id=me, monotonic=time.monotonic(), pid_alive=pid_alive(got.pid),
                       expected_slot=expected)
            healthy, reason = v.healthy, v.reason
            checks: dict[str, Any] = dict(v.checks)
            checks["firmware"] = msgspec.structs.asdict(got.firmware)
            checks["pid"] = got.pid
        else:
            healthy, reason, checks = False, str(got), {}
        if healthy or time.monotonic() >= deadline:
            return healthy, checks, reason
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        kind, got = _read_service(path)


def run(args: argparse.Namespace) -> int:
    import json

    from roamline.firmware.config import load_box_config
    from roamline.firmware.errors import PeerError

    cfg = load_box_config(args.config)
    first = _read_service(cfg.state.file) if args.source != "probe" else ("missing", "")
    if args.source == "service" or first[0] in ("state", "unreadable"):
        healthy, seen, reason = _from_service(cfg, args.timeout, first)
        print(json.dumps({"healthy": healthy, "source": "service", "state": str(cfg.state.file),
                          **({} if healthy else {"reason": reason}), **seen}))
        if not healthy:
            raise PeerError(f"not healthy (box service): {reason}")
        return 0
    why = "asked" if args.source == "probe" else str(first[1]) if first[0] == "missing" else \
        "the box service has stopped"
    link = _link(cfg, args.timeout)
    checks: dict[str, tuple[bool, str]] = {"link": (link == "up", link)}
    if cfg.line.backend != "none" and cfg.line.device and not args.skip_line:
        line = _line(cfg, args.timeout)
        checks["line"] = (line == "answering", line)
    if cfg.card.backend != "none":
        card = _card(cfg)
        checks["card"] = (card.endswith("reader(s)"), card)
    healthy = all(ok for ok, _ in checks.values())
    print(json.dumps({"healthy": healthy, "source": "probe", "probe_because": why,
                      **{name: text for name, (_, text) in checks.items()}}))
    if not healthy:
        raise PeerError("not healthy (own probe): "
                        + "; ".join(f"{n} {t}" for n, (ok, t) in checks.items() if not ok))
    return 0
