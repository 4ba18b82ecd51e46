"""The options every `roamline provision …` command that talks to the registry takes, with their
validators (light: no crypto or network imports, so `--help` stays quick)."""

from __future__ import annotations

import argparse


def add_registry_arguments(parser: argparse.ArgumentParser) -> None:
    """``--registry HOST:PORT --server-name NAME --ca CA.pem --token T`` and ``--timeout SECONDS``."""
    from roamline.wire import validate

    parser.add_argument("--registry", required=True, type=validate.HostPort(), metavar="HOST:PORT")
    parser.add_argument("--server-name", default=None, type=validate.DnsName(),
                        help="registry TLS name (default registry.roamline)")
    parser.add_argument("--ca", required=True, type=validate.PemCertificate(),
                        help="the Roamline CA certificate (pinned)")
    parser.add_argument("--token", required=True, type=validate.Token(), help="one-time installer token")
    parser.add_argument("--timeout", type=validate.seconds(600.0), default=10.0, help="seconds")
