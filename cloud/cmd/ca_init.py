"""`roamline cloud ca init --data DIR [--server-name NAME]`."""

from __future__ import annotations

import argparse
import json

SUMMARY = "create the Roamline CA and the registry's TLS certificate in DIR (keeps an existing CA)"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.cloud.cmd.common import add_data_arg
    from roamline.wire import validate

    add_data_arg(parser, create=True)
    parser.add_argument("--server-name", default="registry.roamline", type=validate.DnsName(),
                        help="DNS name boxes check the registry's certificate against")
    parser.add_argument("--renew-server", action="store_true", help="issue a new registry TLS certificate")


def run(args: argparse.Namespace) -> int:
    import shutil

    from roamline.cloud.cmd.common import DataDir, open_store, wall_now, write_atomic
    from roamline.wire.identity import CertificateAuthority, certificate_pem, private_key_pem

    d = DataDir(args.data)
    now = wall_now()
    created = not d.ca_cert.exists()
    # Everything is made in memory first: a refusal (a bad name, a broken CA file) leaves nothing behind.
    ca = CertificateAuthority.create(now=now) if created else CertificateAuthority.load(d.root)
    server = None
    if created or args.renew_server or not d.server_cert.exists():
        server = ca.issue_registry_tls(dns_name=args.server_name, now=now)
    made_dir = not d.root.exists()
    d.root.mkdir(exist_ok=True)
    try:
        if created:  # each file appears whole (temporary file + rename); the CA certificate marks it done
            write_atomic(d.ca_key, private_key_pem(ca.key), private=True)
            write_atomic(d.ca_cert, certificate_pem(ca.certificate))
        if server is not None:
            cert_pem, key_pem = server
            write_atomic(d.server_key, key_pem, private=True)
            write_atomic(d.server_cert, cert_pem)
        open_store(d.root).close()  # the schema exists from now on
    except BaseException:
        if made_dir:
            shutil.rmtree(d.root, ignore_errors=True)
        raise
    print(json.dumps({"data": str(d.root), "ca": str(d.ca_cert), "ca_created": created,
                      "server_cert": str(d.server_cert), "server_name": args.server_name}))
    return 0
