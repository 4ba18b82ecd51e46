"""`roamline box update apply BUNDLE --state DIR [--trust KEY.pem]`: verify a signed bundle, install it into
the inactive slot; the next boot tries it. An application bundle goes to an application slot under
``DIR/slots`` (firmware/update/install.py); a root bundle (``kind: root``) to the inactive root partition,
with a one-shot trial armed with the board's boot loader (firmware/update/rootinstall.py): reboot with the
printed ``reboot_argument`` (the Pi's ``reboot "0 tryboot"``) for the trial to happen."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from roamline.firmware.update.bootloader import BootLoader
    from roamline.firmware.update.rootinstall import ImageRecord

SUMMARY = "install a signed update bundle into the inactive slot (switched on the next reboot)"


def add_root_options(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    parser.add_argument("--image-json", type=validate.NewFile(overwrite=True),  # absent: no root slots
                        default=Path("/etc/roamline/image.json"),
                        help="the image's own record of its partitions and board "
                             "(default /etc/roamline/image.json)")
    parser.add_argument("--boot-dir", type=validate.AnyDir(), default=Path("/boot/firmware"),
                        help="the boot partition, mounted (default /boot/firmware)")
    parser.add_argument("--bootloader", choices=("tryboot", "initrd-flag"), default=None,
                        help="boot-loader backend (default: the board profile's [backends] bootloader)")
    parser.add_argument("--sys-root", type=validate.AnyDir(), default=Path("/"),
                        help="where proc/cmdline, proc/device-tree/chosen/bootloader and run/roamline-slot "
                             "are read (default /; tests)")


def root_loader(args: argparse.Namespace) -> tuple[ImageRecord, BootLoader]:
    """(ImageRecord, BootLoader) from the root options."""
    from roamline.firmware.update.bootloader import for_backend
    from roamline.firmware.update.rootinstall import ImageRecord, bootloader_name

    record = ImageRecord.load(args.image_json)
    top = args.sys_root
    paths = {"cmdline": top / "proc/cmdline", "chosen": top / "proc/device-tree/chosen/bootloader",
             "run_file": top / "run/roamline-slot"}
    return record, for_backend(bootloader_name(record, args.bootloader), args.boot_dir, record.disk_id, paths)


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    parser.add_argument("bundle", type=validate.ExistingFile(), help="update bundle (.rlu)")
    parser.add_argument("--state", required=True, type=validate.AnyDir(),
                        help="boot-state directory (bootstate.json, slots/, root/, operator.pem)")
    parser.add_argument("--trust", type=validate.ExistingFile(), default=None,
                        help="the operator's public key (default: STATE/operator.pem)")
    add_root_options(parser)
    parser.add_argument("--dev-dir", type=validate.AnyDir(), default=Path("/dev/disk/by-partuuid"),
                        help="where root partitions are found by PARTUUID (default /dev/disk/by-partuuid)")


def run(args: argparse.Namespace) -> int:
    import json

    from roamline.firmware.errors import PeerError
    from roamline.firmware.update.bootstate import FileBootState
    from roamline.firmware.update.install import install_bundle, load_trusted_key, read_header

    store = FileBootState(args.state)
    trusted = load_trusted_key(args.trust or store.dir / "operator.pem")
    try:
        with open(args.bundle, "rb") as f:
            kind = read_header(f).manifest.kind
        if kind == "root":
            from roamline.firmware.update.rootinstall import FileRootState, install_root_bundle

            record, loader = root_loader(args)
            slot, version = install_root_bundle(args.bundle, FileRootState(args.state), loader, record,
                                                trusted, dev_dir=args.dev_dir)
            print(json.dumps({"installed": slot, "kind": "root", "version": version, "on_next_boot": slot,
                              "reboot_argument": loader.reboot_argument()}))
            return 0
        slot, version = install_bundle(args.bundle, store, trusted)
    except OSError as exc:
        raise PeerError(f"install failed: {exc.strerror or exc}") from None
    print(json.dumps({"installed": slot, "version": version, "on_next_boot": slot}))
    return 0
