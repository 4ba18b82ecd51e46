"""`roamline box update apply BUNDLE --state DIR [--trust KEY.pem]`: verify a signed bundle, install it into
the inactive slot; the next boot tries it (see firmware/update/install.py)."""

from __future__ import annotations

import argparse

SUMMARY = "install a signed update bundle into the inactive slot (switched on the next reboot)"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    parser.add_argument("bundle", type=validate.ExistingFile(), help="update bundle (.rlu)")
    parser.add_argument("--state", required=True, type=validate.AnyDir(),
                        help="boot-state directory (bootstate.json, slots/, operator.pem)")
    parser.add_argument("--trust", type=validate.ExistingFile(), default=None,
                        help="the operator's public key (default: STATE/operator.pem)")


def run(args: argparse.Namespace) -> int:
    import json

    from roamline.firmware.errors import PeerError
    from roamline.firmware.update.bootstate import FileBootState
    from roamline.firmware.update.install import install_bundle, load_trusted_key

    store = FileBootState(args.state)
    trusted = load_trusted_key(args.trust or store.dir / "operator.pem")
    try:
        slot, version = install_bundle(args.bundle, store, trusted)
    except OSError as exc:
        raise PeerError(f"install failed: {exc.strerror or exc}") from None
    print(json.dumps({"installed": slot, "version": version, "on_next_boot": slot}))
    return 0
