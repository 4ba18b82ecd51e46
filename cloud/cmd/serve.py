"""`roamline cloud serve --data DIR [--host 127.0.0.1] [--port 4433] [--hello-timeout S]
[--max-unauthenticated N] [--smtp-host HOST] [--smtp-port N] [--smtp-from ADDR] [--smtp-starttls]
[--webhook-secret-file FILE] [--notify-timeout S] [--notify-attempts N] [--sos-host HOST] [--sos-port N]
[--sos-tls-port N]`."""

from __future__ import annotations

import argparse

SUMMARY = "run the registry's link server (QUIC, ALPN roamline/1) on the data directory's store and CA"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.cloud.cmd.common import add_data_arg
    from roamline.wire import validate

    add_data_arg(parser)
    parser.add_argument("--host", default="127.0.0.1", type=validate.Host(),
                        help="address to listen on (default 127.0.0.1: this host only; 0.0.0.0 or :: all)")
    parser.add_argument("--port", type=validate.Port(allow_zero=True), default=4433,
                        help="UDP port (default 4433; 0: any free port)")
    parser.add_argument("--lease", type=validate.seconds(86400.0), default=120.0,
                        help="registration lease, seconds")
    parser.add_argument("--keepalive", type=validate.seconds(3600.0), default=15.0,
                        help="box keep-alive, seconds")
    parser.add_argument("--no-answer", type=validate.seconds(3600.0), default=30.0,
                        help="ring time before offers end, seconds")
    parser.add_argument("--media-silence", type=validate.seconds(3600.0), default=10.0,
                        help="a connected call with a leg silent this long ends, seconds")
    parser.add_argument("--hello-timeout", type=validate.seconds(60.0), default=5.0,
                        help="seconds a connection may stay open without a verified hello (default 5)")
    parser.add_argument("--max-unauthenticated", type=validate.count(1, 100_000), default=32,
                        help="unauthenticated connections one source address may hold at once (default 32)")
    sos = parser.add_argument_group(
        "the emergency route (SIP to the answering points of `cloud psap import`)")
    sos.add_argument("--sos-host", type=validate.Host(),
                     help="address of the emergency route's SIP and RTP sockets (default: --host)")
    sos.add_argument("--sos-port", type=validate.Port(allow_zero=True), default=0,
                     help="its SIP UDP port (default 0: any free port, printed in the readiness line)")
    sos.add_argument("--sos-tls-port", type=validate.Port(allow_zero=True),
                     help="also listen for SIP over TLS on this TCP port (0: any free port), with the "
                          "registry's certificate; needed for answering points whose URI is sips: or "
                          ";transport=tls (default: no TLS)")
    sos.add_argument("--sos-tls-cert", type=validate.ExistingFile(), metavar="FILE",
                     help="PEM certificate for SIP over TLS, both ways (e.g. one your ESInet's credentialing "
                          "agency issued; it must allow client use for mutual TLS); default: the registry's")
    sos.add_argument("--sos-tls-key", type=validate.ExistingFile(), metavar="FILE",
                     help="the private key of --sos-tls-cert (PEM)")
    notify = parser.add_argument_group("emergency notifications (every 911 call tells the box's contacts)")
    notify.add_argument("--smtp-host", type=validate.Host(),
                        help="SMTP relay for e-mail contacts (none: e-mail contacts are recorded not told)")
    notify.add_argument("--smtp-port", type=validate.Port(), default=25, help="SMTP relay port (default 25)")
    notify.add_argument("--smtp-from", type=validate.Parsed("sender address", _sender, "registry@example.com",
                                                            max_len=254),
                        help="the e-mails' From address (default roamline-registry@localhost)")
    notify.add_argument("--smtp-starttls", action="store_true", help="STARTTLS on the SMTP connection")
    notify.add_argument("--webhook-secret-file", type=validate.ExistingFile(), metavar="FILE",
                        help="sign webhook bodies: X-Roamline-Signature: sha256=HMAC(secret, body)")
    notify.add_argument("--notify-timeout", type=validate.seconds(120.0), default=5.0,
                        help="seconds per attempt per contact (default 5)")
    notify.add_argument("--notify-attempts", type=validate.count(1, 20), default=3,
                        help="attempts per contact, with 1 s, 2 s, 4 s ... between them (default 3)")


def _sender(text: str) -> str:
    from roamline.wire.contacts import check_contact

    if "://" in text:
        raise ValueError(f"--smtp-from: an e-mail address, not {text[:40]!r}")
    return check_contact(text).removeprefix("mailto:")


def run(args: argparse.Namespace) -> int:
    import asyncio
    import json
    import signal
    import sys
    import time

    from roamline.cloud.cmd.common import DataDir, open_store
    from roamline.cloud.errors import UsageError
    from roamline.cloud.notify import EmergencyNotifier, NotifyConfig
    from roamline.cloud.registry import Registry, RegistryConfig
    from roamline.cloud.relay import RelayConfig
    from roamline.cloud.router import RouterConfig
    from roamline.cloud.server import CallSetup, RegistryServer
    from roamline.cloud.sos_gateway import TlsSetup
    from roamline.cloud.sqlite_store import SqliteStore
    from roamline.wire.identity import CertificateAuthority

    d = DataDir(args.data)
    if not d.server_cert.exists() or not d.server_key.exists():
        raise UsageError(f"{d.root}: no registry certificate (run `roamline cloud ca init --data {d.root}`)")
    ca = CertificateAuthority.load(d.root)
    config = RegistryConfig(lease_s=args.lease, keepalive_s=args.keepalive)
    secret = None
    if args.webhook_secret_file is not None:
        try:
            secret = args.webhook_secret_file.read_bytes().strip()
        except OSError as exc:
            raise UsageError(f"--webhook-secret-file: {exc.strerror}") from None
        if len(secret) < 16:
            raise UsageError("--webhook-secret-file: the secret must be at least 16 bytes")
    sender = {"smtp_from": args.smtp_from} if args.smtp_from else {}
    notify = NotifyConfig(smtp_host=args.smtp_host, smtp_port=args.smtp_port, **sender,
                          smtp_starttls=args.smtp_starttls, timeout_s=args.notify_timeout,
                          attempts=args.notify_attempts, webhook_secret=secret)
    if (args.sos_tls_cert is None) != (args.sos_tls_key is None):
        raise UsageError("--sos-tls-cert and --sos-tls-key go together")
    if args.sos_tls_cert is not None and args.sos_tls_port is None:
        raise UsageError("--sos-tls-cert needs --sos-tls-port")
    tls_cert = args.sos_tls_cert or d.server_cert
    tls_key = args.sos_tls_key or d.server_key
    calls = CallSetup(store=SqliteStore(d.db), router=RouterConfig(no_answer_s=args.no_answer),
                      relay=RelayConfig(silence_s=args.media_silence), grant_key=ca.key,
                      sos_host=args.sos_host, sos_port=args.sos_port,
                      sos_tls=None if args.sos_tls_port is None else TlsSetup(
                          tls_cert, tls_key, args.sos_tls_port))

    async def main() -> None:
        store = open_store(d.root, background_checkpoint_s=0.25)  # WAL checkpoints off the request path
        server = RegistryServer(
            Registry(store, ca, config), host=args.host, port=args.port, wall=time.time,
            tls_cert_pem=d.server_cert.read_bytes(), tls_key_pem=d.server_key.read_bytes(), calls=calls,
            hello_deadline_s=args.hello_timeout, max_unauthenticated_per_source=args.max_unauthenticated,
            notifier=EmergencyNotifier(store, notify, time.time),
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await server.start()
            # the readiness line (rigs wait for it): one JSON object
            sos = server.sos.sip_address if server.sos is not None else None
            sos_tls = server.sos.tls_address if server.sos is not None else None
            print(json.dumps({"listening": args.host, "port": server.port, "data": str(d.root),
                              "sos_sip": f"{sos[0]}:{sos[1]}" if sos else None,
                              "sos_sips": f"{sos_tls[0]}:{sos_tls[1]}" if sos_tls else None}), flush=True)
            await stop.wait()
        finally:
            await server.close()
            store.close()
        relay = server.relay.stats.to_json() if server.relay is not None else None
        print(json.dumps({"stopped": True, "relay": relay}), file=sys.stderr)

    asyncio.run(main())
    return 0
