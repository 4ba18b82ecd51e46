"""`roamline provision box list --registry HOST:PORT --installer DIR [--json]`."""

from __future__ import annotations

import argparse

SUMMARY = "list the enrolled boxes (needs an installer credential from `cloud installer issue`)"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    parser.add_argument("--registry", required=True, type=validate.HostPort(), metavar="HOST:PORT")
    parser.add_argument("--server-name", default=None, type=validate.DnsName(),
                        help="registry TLS name (default registry.roamline)")
    parser.add_argument("--installer", required=True, metavar="DIR",
                        type=validate.ExistingDir("ca.pem", "not an installer credential: "
                                                  "`roamline cloud installer issue --out DIR` makes one"),
                        help="installer credential directory (installer.key, installer.pem, ca.pem)")
    parser.add_argument("--limit", type=validate.count(1, 10_000), default=500)
    parser.add_argument("--json", action="store_true", help="one JSON object per box")
    parser.add_argument("--timeout", type=validate.seconds(600.0), default=10.0, help="seconds")


def _address(civic: object) -> str:
    if not isinstance(civic, dict):
        return ""
    c = civic.get("civic") if isinstance(civic.get("civic"), dict) else {}
    assert isinstance(c, dict)
    parts = [" ".join(str(c[k]) for k in ("HNO", "RD") if k in c), str(c.get("A3", "")), str(c.get("A1", "")),
             str(c.get("country", ""))]
    return ", ".join(p for p in parts if p)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import json
    import time

    from roamline.provisioning.enroll import parse_registry
    from roamline.provisioning.installer import list_boxes, load_credential

    address = parse_registry(args.registry, args.server_name)
    cred = load_credential(args.installer)
    boxes = asyncio.run(list_boxes(address, cred, limit=args.limit, timeout=args.timeout))
    for b in boxes:
        if args.json:
            print(json.dumps(b, sort_keys=True))
            continue
        when = time.strftime("%Y-%m-%d", time.gmtime(float(b.get("created") or 0)))
        state = "REVOKED" if b.get("revoked") else "enrolled"
        print(f"{b.get('id')}  {state:8}  {when}  {b.get('name', '')!s:20}  {b.get('board', '')!s:12}  "
              f"{b.get('line_number') or '-':14}  {_address(b.get('location'))}")
    if not args.json:
        print(f"{len(boxes)} boxes")
    return 0
