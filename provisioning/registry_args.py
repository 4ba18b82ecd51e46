"""The options every `roamline provision …` command that talks to the registry takes (light: no crypto,
no network imports, so `--help` stays quick)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_registry_arguments(parser: argparse.ArgumentParser) -> None:
    """``--registry HOST:PORT --server-name NAME --ca CA.pem --token T`` (and ``--timeout``)."""
    parser.add_argument("--registry", required=True, metavar="HOST:PORT")
    parser.add_argument("--server-name", default=None, help="registry TLS name (default registry.roamline)")
    parser.add_argument("--ca", required=True, type=Path, help="the Roamline CA certificate (pinned)")
    parser.add_argument("--token", required=True, help="one-time installer token")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the registry")
