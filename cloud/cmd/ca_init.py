"""`roamline cloud ca init --data DIR [--server-name NAME]`."""

from __future__ import annotations

import argparse
import json

SUMMARY = "create the Roamline CA and the registry's TLS certificate in DIR (keeps an existing CA)"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.cloud.cmd.common import add_data_arg

    add_data_arg(parser)
    parser.add_argument("--server-name", default="registry.roamline",
                        help="DNS name boxes check the registry's certificate against")
    parser.add_argument("--renew-server", action="store_true", help="issue a new registry TLS certificate")


def run(args: argparse.Namespace) -> int:
    import os

    from roamline.cloud.cmd.common import DataDir, open_store, wall_now
    from roamline.wire.identity import CertificateAuthority

    d = DataDir(args.data)
    d.root.mkdir(parents=True, exist_ok=True)
    now = wall_now()
    created = not d.ca_cert.exists()
    if created:
        CertificateAuthority.create(now=now).save(d.root)
    ca = CertificateAuthority.load(d.root)
    if args.renew_server or not d.server_cert.exists():
        cert_pem, key_pem = ca.issue_registry_tls(dns_name=args.server_name, now=now)
        d.server_cert.write_bytes(cert_pem)
        fd = os.open(d.server_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key_pem)
    open_store(d.root).close()  # the schema exists from now on
    print(json.dumps({"data": str(d.root), "ca": str(d.ca_cert), "ca_created": created,
                      "server_cert": str(d.server_cert), "server_name": args.server_name}))
    return 0
