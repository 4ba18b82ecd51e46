"""`roamline provision box label --bundle DIR [--out FILE.pdf|FILE.png …]`."""

from __future__ import annotations

import argparse

SUMMARY = "make the box's label (PDF and/or PNG): box id, QR code, 911 address notice, backup-power notice"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    parser.add_argument("--bundle", required=True, metavar="DIR",
                        type=validate.ExistingDir("ca.pem", "not an enrollment bundle: "
                                                  "`provision box enroll --out DIR` writes one"),
                        help="the box's enrollment bundle (its enrollment.json says what to print)")
    parser.add_argument("--out", action="append", default=[], type=validate.NewFile(overwrite=True),
                        metavar="FILE",
                        help="label file, .pdf or .png (default: DIR/label.pdf and DIR/label.png)")


def run(args: argparse.Namespace) -> int:
    import json

    from roamline.provisioning.errors import UsageError
    from roamline.provisioning.label import label_text, read_record, write_pdf, write_png

    outs = list(args.out) or [args.bundle / "label.pdf", args.bundle / "label.png"]
    for out in outs:
        if out.suffix.lower() not in (".pdf", ".png"):
            raise UsageError(f"--out {out}: a label is .pdf or .png")
    text = label_text(read_record(args.bundle))
    for out in outs:
        (write_pdf if out.suffix.lower() == ".pdf" else write_png)(text, out)
    print(json.dumps({"box_id": text.box_id, "labels": [str(o) for o in outs]}))
    return 0
