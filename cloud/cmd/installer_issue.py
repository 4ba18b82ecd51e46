"""`roamline cloud installer issue --data DIR --name ID --out DIR [--days N]`."""

from __future__ import annotations

import argparse

SUMMARY = "issue an installer credential (key + certificate, role installer) for `provision box list`"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.cloud.cmd.common import add_data_arg
    from roamline.wire import validate

    add_data_arg(parser)
    parser.add_argument("--name", required=True, type=validate.Identifier(),
                        help="the installer's id (lower-case letters, digits, . _ -)")
    parser.add_argument("--out", required=True, type=validate.NewDir(), metavar="DIR",
                        help="where to write installer.key, installer.pem and ca.pem (for the installer)")
    parser.add_argument("--days", type=validate.count(1, 825), default=365, help="validity (365 days)")


def run(args: argparse.Namespace) -> int:
    import json
    import os

    from roamline.cloud.cmd.common import DataDir, open_store, wall_now
    from roamline.cloud.errors import UsageError
    from roamline.wire import identity

    name = str(args.name).lower()  # the CA checks it is a valid installer id
    if (args.out / "installer.key").exists():
        raise UsageError(f"{args.out}: already holds an installer key (refusing to overwrite it)")
    data = DataDir(args.data)
    ca = identity.CertificateAuthority.load(data.root)
    now = wall_now()
    key = identity.generate_key()
    cert = ca.issue(role=identity.Role.INSTALLER, subject_id=name, public_key=key.public_key(), now=now,
                    days=args.days)
    args.out.mkdir(parents=True, exist_ok=True)
    fd = os.open(args.out / "installer.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(identity.private_key_pem(key))
    (args.out / "installer.pem").write_bytes(identity.certificate_pem(cert))
    (args.out / "ca.pem").write_bytes(ca.cert_pem)
    store = open_store(args.data)
    try:
        with store.transaction():
            store.add_event(now, "installer-issued", {"installer": name, "serial": cert.serial_number,
                                                       "days": args.days})
    finally:
        store.close()
    print(json.dumps({"installer": name, "out": str(args.out),
                      "not_after": cert.not_valid_after_utc.timestamp()}))
    return 0
