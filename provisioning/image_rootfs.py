"""Turn a root filesystem directory into a Roamline root slot (works on a directory: no mounting, no
chroot). What it writes is listed in docs/image.md; ``customise`` returns the paths it wrote.

The firmware runs from ``/opt/roamline/site`` (the Roamline wheel and its pure/aarch64 wheels, installed
with ``pip --target``) on the root filesystem's Python; pyscard comes from Debian (``python3-pyscard``),
since PyPI has no aarch64 wheel for it.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from roamline.provisioning import image_plan

SITE = "opt/roamline/site"
UNIT_DIR = "etc/systemd/system"
WANTS = f"{UNIT_DIR}/multi-user.target.wants"
SOCKETS_WANTS = f"{UNIT_DIR}/sockets.target.wants"
FIRSTBOOT = "usr/local/sbin/roamline-firstboot"
LAUNCHER = "usr/local/bin/roamline"
BOX_TOML_LINK = "etc/roamline/box.toml"

UPDATE_BOOT = "usr/local/sbin/roamline-update-boot"
UPDATE_HEALTH = "usr/local/sbin/roamline-update-health"
UPDATE_MEDIA = "usr/local/sbin/roamline-update-media"
# the device unit of a filesystem labelled ROAMUPD (systemd-escape: "-" in a path word is \x2d)
MEDIA_LABEL = "ROAMUPD"
MEDIA_DEVICE_UNIT = "dev-disk-by\\x2dlabel-ROAMUPD.device"

LAUNCHER_TEXT = """#!/bin/sh
# Roamline's command (docs/image.md): the wheel and its dependencies live in /opt/roamline/site (the
# factory install), or in the update slot roamline-update-boot chose for this boot (/run/roamline/site)
SITE="${ROAMLINE_RUN:-/run/roamline}/site"
# an update slot may carry only Roamline: the factory dependency tree follows it on the path (what the
# slot carries comes first)
if [ -d "$SITE/roamline" ] && [ "$(readlink -f "$SITE")" != /opt/roamline/site ]; then
  export PYTHONPATH="$SITE:/opt/roamline/site"
else
  export PYTHONPATH=/opt/roamline/site
fi
exec /usr/bin/python3 -c 'import sys; from roamline.cli.main import entry; sys.argv[0] = "roamline"; \
entry()' "$@"
"""

# First boot: take the identity bundle that `provision flash` / `box enroll` put on the boot partition,
# keep it on /data (0600 key), and remove the private key from the FAT partition (readable by anyone
# holding the card). Paths come from the environment so tests run it on directories.
FIRSTBOOT_TEXT = """#!/bin/sh
# Roamline first boot (docs/image.md): move the box identity from the boot partition to /data.
set -eu
BOOT="${ROAMLINE_BOOT:-/boot/firmware}/roamline"
DATA="${ROAMLINE_DATA:-/data}"
for f in box.key box.pem ca.pem box.toml; do
  if [ ! -s "$BOOT/$f" ]; then
    echo "roamline-firstboot: $BOOT/$f missing: no identity bundle on the boot partition" >&2
    exit 1
  fi
done
umask 077
mkdir -p "$DATA/.firstboot"
for f in box.pem ca.pem box.toml box.key; do
  cp "$BOOT/$f" "$DATA/.firstboot/$f"
done
chmod 0600 "$DATA/.firstboot/box.key"
chmod 0644 "$DATA/.firstboot/box.pem" "$DATA/.firstboot/ca.pem" "$DATA/.firstboot/box.toml"
sync
for f in box.key box.pem ca.pem; do
  mv "$DATA/.firstboot/$f" "$DATA/$f"
done
if [ -s "$BOOT/operator.pem" ]; then   # the operator's update key, trusted by `box update apply`
  mkdir -p "$DATA/update"
  cp "$BOOT/operator.pem" "$DATA/update/operator.pem.tmp"
  chmod 0644 "$DATA/update/operator.pem.tmp"
  mv "$DATA/update/operator.pem.tmp" "$DATA/update/operator.pem"
fi
mv "$DATA/.firstboot/box.toml" "$DATA/box.toml"   # last: its presence means the bundle is complete
rmdir "$DATA/.firstboot"
sync
rm -f "$BOOT/box.key"
echo "roamline-firstboot: identity taken into $DATA; the private key is off the boot partition"
"""

FIRSTBOOT_UNIT = """[Unit]
Description=Roamline first boot: take the box identity from the boot partition
DefaultDependencies=yes
RequiresMountsFor=/data /boot/firmware
ConditionPathExists=/boot/firmware/roamline/box.toml
ConditionPathExists=!/data/box.toml
Before=roamline-box.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/roamline-firstboot
StandardOutput=journal+console
StandardError=journal+console
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
"""


# Signed updates (firmware/update, docs/image.md): before the firmware, `box update boot` picks the
# application slot in /data/update (a newly installed slot once, on trial; a trial that never reported is
# rolled back) and points /run/roamline/site at it (its site/ folder), or at the factory install. The
# firmware starts whatever happens here (Wants=, not Requires=: the lifeline is never blocked by an
# update). After the firmware is up, a slot on trial gets `box update health`: healthy keeps it,
# unhealthy marks it bad and reboots into the previous slot.
UPDATE_BOOT_TEXT = """#!/bin/sh
# Roamline update boot (docs/image.md): which application slot the firmware runs from this boot.
set -u
STATE="${ROAMLINE_UPDATE_STATE:-/data/update}"
RUN="${ROAMLINE_RUN:-/run/roamline}"
ROAMLINE="${ROAMLINE_CMD:-/usr/local/bin/roamline}"
FACTORY="${ROAMLINE_FACTORY_SITE:-/opt/roamline/site}"
mkdir -p "$RUN" "$STATE"
rm -f "$RUN/site" "$RUN/boot.json"
# the boot decision runs from the factory install (this root), never from an update under trial
if ! ROAMLINE_RUN=/nonexistent $ROAMLINE box update boot --state "$STATE" > "$RUN/boot.json.tmp"; then
  ln -s "$FACTORY" "$RUN/site"
  echo "roamline-update-boot: box update boot failed: the firmware runs from the factory install" >&2
  exit 1
fi
mv "$RUN/boot.json.tmp" "$RUN/boot.json"
dir=$(sed -n 's/.*"dir": "\\([^"]*\\)".*/\\1/p' "$RUN/boot.json")
site="$FACTORY"
if [ -n "$dir" ] && [ -d "$dir/site/roamline" ]; then
  site="$dir/site"
fi
ln -s "$site" "$RUN/site"
echo "roamline-update-boot: $(cat "$RUN/boot.json"); the firmware runs from $site"
"""

UPDATE_HEALTH_TEXT = """#!/bin/sh
# Roamline update health (docs/image.md): once the firmware is up, a slot on trial is health-checked.
set -u
STATE="${ROAMLINE_UPDATE_STATE:-/data/update}"
RUN="${ROAMLINE_RUN:-/run/roamline}"
ROAMLINE="${ROAMLINE_CMD:-/usr/local/bin/roamline}"
# an application slot, or a whole root slot (its one-shot trial boot), on trial
if ! grep -q -e '"slot_state": "trying"' -e '"root_state": "trying"' "$RUN/boot.json" 2>/dev/null; then
  echo "roamline-update-health: no slot on trial: nothing to check"
  exit 0
fi
exec $ROAMLINE box update health --state "$STATE" --timeout "${ROAMLINE_HEALTH_TIMEOUT:-300}"
"""

UPDATE_BOOT_UNIT = """[Unit]
Description=Roamline updates: choose the application slot (a new slot once, or roll back)
RequiresMountsFor=/data
After=roamline-firstboot.service
Before=roamline-box.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/roamline-update-boot
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
"""

UPDATE_HEALTH_UNIT = """[Unit]
Description=Roamline updates: health-check a slot on trial once the firmware runs
RequiresMountsFor=/data
Wants=roamline-box.service
After=roamline-box.service roamline-update-boot.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/roamline-update-health
StandardOutput=journal+console
StandardError=journal+console
FailureAction=reboot

[Install]
WantedBy=multi-user.target
"""


# Update media (a field installer's USB stick, the test's second virtio disk): a filesystem labelled
# ROAMUPD holding signed bundles (*.rlu). When it appears, the newest bundle not applied before is
# verified and installed into the inactive slot (`box update apply`, the operator key from
# /data/update/operator.pem), and the box reboots into it on trial. A bundle is recorded by its SHA-256
# in /data/update/applied/, so a stick left in does not loop.
UPDATE_MEDIA_TEXT = """#!/bin/sh
# Roamline update media (docs/image.md): apply a signed bundle from a ROAMUPD disk, then reboot.
set -u
STATE="${ROAMLINE_UPDATE_STATE:-/data/update}"
DEV="${1:-/dev/disk/by-label/ROAMUPD}"
MNT="${ROAMLINE_MEDIA_MNT:-/run/roamline/media}"
ROAMLINE="${ROAMLINE_CMD:-/usr/local/bin/roamline}"
# tests run it on directories: MOUNT=true UMOUNT=true, SYSTEMCTL=echo
MOUNT="${ROAMLINE_MOUNT:-mount}"
UMOUNT="${ROAMLINE_UMOUNT:-umount}"
SYSTEMCTL="${ROAMLINE_SYSTEMCTL:-systemctl}"
mkdir -p "$MNT" "$STATE/applied"
if ! $MOUNT -o ro "$DEV" "$MNT"; then
  echo "roamline-update-media: cannot mount $DEV" >&2
  exit 1
fi
bundle=$(ls "$MNT"/*.rlu 2>/dev/null | sort | tail -n 1)
if [ -z "$bundle" ]; then
  $UMOUNT "$MNT"
  echo "roamline-update-media: no *.rlu bundle on $DEV"
  exit 0
fi
sum=$(sha256sum "$bundle" | cut -d' ' -f1)
if [ -e "$STATE/applied/$sum" ]; then
  $UMOUNT "$MNT"
  echo "roamline-update-media: $(basename "$bundle") was applied before: nothing to do"
  exit 0
fi
# applied from the factory install (this root), like the boot decision
# (ROAMLINE_APPLY_OPTS: where a test's image record, boot partition and root partitions are)
if ! out=$(ROAMLINE_RUN=/nonexistent $ROAMLINE box update apply "$bundle" --state "$STATE" \
    ${ROAMLINE_APPLY_OPTS:-}); then
  $UMOUNT "$MNT"
  echo "roamline-update-media: $(basename "$bundle") refused: nothing installed" >&2
  exit 1
fi
touch "$STATE/applied/$sum"
$UMOUNT "$MNT"
sync
echo "roamline-update-media: applied $(basename "$bundle"): $out; rebooting into it"
# a root bundle's trial may need a reboot argument (the Pi's "0 tryboot": the firmware's one-shot flag)
arg=$(printf '%s' "$out" | sed -n 's/.*"reboot_argument": "\\([^"]*\\)".*/\\1/p')
if [ -n "$arg" ]; then
  $SYSTEMCTL --no-block reboot "$arg"
else
  $SYSTEMCTL --no-block reboot
fi
"""

UPDATE_MEDIA_UNIT = """[Unit]
Description=Roamline updates: apply a signed bundle from a ROAMUPD disk and reboot into it
RequiresMountsFor=/data
BindsTo=dev-disk-by\\x2dlabel-ROAMUPD.device
After=dev-disk-by\\x2dlabel-ROAMUPD.device roamline-firstboot.service roamline-update-boot.service
After=roamline-update-health.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/roamline-update-media
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=dev-disk-by\\x2dlabel-ROAMUPD.device
"""


def box_unit(*, wants: tuple[str, ...]) -> str:
    after = " ".join(("network-online.target", "roamline-firstboot.service", "roamline-update-boot.service",
                      *wants))
    return f"""[Unit]
Description=Roamline box firmware (cards, link, line, handset, emergency lifeline)
Wants=network-online.target roamline-update-boot.service {" ".join(wants)}
After={after}
RequiresMountsFor=/data
ConditionPathExists=/data/box.toml

[Service]
Type=simple
Environment=PYTHONUNBUFFERED=1 ROAMLINE_LOG_LEVEL=info
StandardOutput=journal+console
StandardError=journal+console
WorkingDirectory=/data
ExecStart=/usr/local/bin/roamline box run --config /data/box.toml
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
"""


NETWORK = """[Match]
Name=eth0 end0 enp* eth*

[Network]
DHCP=yes
"""


@dataclass(frozen=True, slots=True)
class RootSpec:
    board: str  # a board profile name
    pi_model: str
    layout: image_plan.ImageLayout
    source: str  # "debian" or "base:<file name>"
    card_readers: bool  # the board has card readers: pcscd
    gps: bool  # the board has a GPS: gpsd
    hostname: str = "roamline"


def _write(root: Path, rel: str, text: str, mode: int = 0o644) -> str:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or path.exists():
        path.unlink()
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return rel


def _enable(root: Path, wants_dir: str, unit_path: str) -> str:
    """What ``systemctl enable`` does for a WantedBy= unit: a symlink in the target's .wants folder."""
    link = root / wants_dir / Path(unit_path).name
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(unit_path)
    return f"{wants_dir}/{link.name}"


def _unit_path(root: Path, name: str) -> str:
    for d in ("usr/lib/systemd/system", "lib/systemd/system"):
        if (root / d / name).exists() or (root / d / name).is_symlink():
            return f"/{d}/{name}"
    return f"/lib/systemd/system/{name}"


def customise(root: Path, spec: RootSpec, site: Path | None) -> list[str]:
    """Make ``root`` a Roamline root slot; ``site`` (a ``pip --target`` folder) goes to /opt/roamline/site."""
    wrote: list[str] = []
    for d in ("data", "boot/firmware", "etc/roamline"):
        (root / d).mkdir(parents=True, exist_ok=True)
    wrote.append(_write(root, "etc/fstab", image_plan.fstab()))
    wrote.append(_write(root, "etc/hostname", spec.hostname + "\n"))
    wrote.append(_write(root, "etc/hosts", f"127.0.0.1\tlocalhost\n127.0.1.1\t{spec.hostname}\n"))
    # an empty machine-id: systemd makes a transient one on the read-only root at each boot
    wrote.append(_write(root, "etc/machine-id", ""))
    # the configuration where update bundles' health command looks for it (`box health --config
    # /etc/roamline/box.toml`): first boot puts it on /data
    link = root / BOX_TOML_LINK
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to("/data/box.toml")
    wrote.append(BOX_TOML_LINK)
    wrote.append(_write(root, "etc/roamline/image.json",
                        image_plan.image_json(spec.layout, board=spec.board, pi_model=spec.pi_model,
                                              source=spec.source)))
    wrote.append(_write(root, LAUNCHER, LAUNCHER_TEXT, 0o755))
    wrote.append(_write(root, FIRSTBOOT, FIRSTBOOT_TEXT, 0o755))
    wrote.append(_write(root, f"{UNIT_DIR}/roamline-firstboot.service", FIRSTBOOT_UNIT))
    wants: list[str] = []
    if spec.card_readers:
        wants.append("pcscd.socket")
        wrote.append(_enable(root, SOCKETS_WANTS, _unit_path(root, "pcscd.socket")))
    if spec.gps:
        wants.append("gpsd.socket")
        wrote.append(_enable(root, SOCKETS_WANTS, _unit_path(root, "gpsd.socket")))
        wrote.append(_write(root, "etc/default/gpsd",
                            'START_DAEMON="true"\nUSBAUTO="true"\nDEVICES=""\nGPSD_OPTIONS="-n"\n'))
    wrote.append(_write(root, f"{UNIT_DIR}/roamline-box.service", box_unit(wants=tuple(wants))))
    wrote.append(_write(root, UPDATE_BOOT, UPDATE_BOOT_TEXT, 0o755))
    wrote.append(_write(root, UPDATE_HEALTH, UPDATE_HEALTH_TEXT, 0o755))
    wrote.append(_write(root, f"{UNIT_DIR}/roamline-update-boot.service", UPDATE_BOOT_UNIT))
    wrote.append(_write(root, f"{UNIT_DIR}/roamline-update-health.service", UPDATE_HEALTH_UNIT))
    wrote.append(_enable(root, WANTS, "/etc/systemd/system/roamline-update-boot.service"))
    wrote.append(_enable(root, WANTS, "/etc/systemd/system/roamline-update-health.service"))
    wrote.append(_write(root, UPDATE_MEDIA, UPDATE_MEDIA_TEXT, 0o755))
    wrote.append(_write(root, f"{UNIT_DIR}/roamline-update-media.service", UPDATE_MEDIA_UNIT))
    wrote.append(_enable(root, f"{UNIT_DIR}/{MEDIA_DEVICE_UNIT}.wants",
                         "/etc/systemd/system/roamline-update-media.service"))
    wrote.append(_enable(root, WANTS, "/etc/systemd/system/roamline-firstboot.service"))
    wrote.append(_enable(root, WANTS, "/etc/systemd/system/roamline-box.service"))
    wrote.append(_write(root, "etc/systemd/network/20-wired.network", NETWORK))
    networkd = _unit_path(root, "systemd-networkd.service")
    if (root / networkd.lstrip("/")).exists():
        wrote.append(_enable(root, WANTS, networkd))
        wrote.append(_enable(root, f"{UNIT_DIR}/network-online.target.wants",
                             _unit_path(root, "systemd-networkd-wait-online.service")))
    if site is not None:
        dest = root / SITE
        if dest.exists():
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(site, dest, symlinks=True)
        wrote.append(SITE)
    return wrote


def tree_bytes(root: Path) -> int:
    """Bytes a directory tree needs on ext4, roughly: file sizes rounded to 4 KiB plus an inode each."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + dirnames:
            try:
                st = (Path(dirpath) / name).lstat()
            except OSError:
                continue
            total += -(-st.st_size // 4096) * 4096 + 256
    return total


def boot_files(root: Path, pi_model: str) -> tuple[dict[str, Path], str, str]:
    """The boot partition's files from a Debian root: {name on FAT: source}, kernel name, initrd name.
    Raises PlanError when the board's firmware or device tree is not in the root (e.g. Debian's kernel
    lacks a board's device tree)."""
    board = image_plan.board_boot(pi_model)
    kernels = sorted((root / "boot").glob("vmlinuz-*"))
    if not kernels:
        raise image_plan.PlanError(f"{root}/boot has no vmlinuz-*: the root needs linux-image-arm64")
    kernel = kernels[-1]
    version = kernel.name.removeprefix("vmlinuz-")
    initrd = root / "boot" / f"initrd.img-{version}"
    if not initrd.exists():
        raise image_plan.PlanError(f"{initrd} missing: the root needs initramfs-tools")
    files: dict[str, Path] = {kernel.name: kernel, initrd.name: initrd}
    fw = root / "usr/lib/raspi-firmware"
    for name in board.firmware:
        if not (fw / name).exists():
            raise image_plan.PlanError(f"{fw}/{name} missing: the root needs raspi-firmware")
        files[name] = fw / name
    if board.firmware:  # the rest of the firmware (other models' files are small and harmless)
        for extra in sorted(fw.glob("*")):
            if extra.is_file():
                files.setdefault(extra.name, extra)
    dtb_dir = root / "usr/lib" / f"linux-image-{version}" / "broadcom"
    for i, name in enumerate(board.dtbs):
        if i > 0 and not (dtb_dir / name).exists():
            continue  # a variant this kernel lacks
        if not (dtb_dir / name).exists():
            raise image_plan.PlanError(
                f"Debian's kernel {version} has no device tree {name} for the {pi_model}: this board "
                "cannot boot Debian's kernel (docs/image.md)")
        files[name] = dtb_dir / name
    return files, kernel.name, initrd.name
