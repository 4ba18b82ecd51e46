"""Whole-root updates on the box: a signed ``kind: root`` bundle written to the inactive root partition,
its one-shot trial armed with the board's boot loader, the trial observed at boot, and its health check
committing (or not) the slot. The state machine is ``rootslot``; the boot loaders ``bootloader``.

``install_root_bundle``: (1) signature and the whole payload's digest are checked before anything is
written (``install.verify_bundle``); the root image must fit the partition the image recorded
(``/etc/roamline/image.json``); (2) the slot is marked ``installing`` (durably), then the payload streams
through: ``rootfs.img`` straight onto the partition (never the committed or the running one), the kernel
and initrd to ``slot-x.new/`` on the boot partition, the payload hashed again on the way and the image by
itself; (3) the partition is flushed and read back past the page cache against the signed image digest;
(4) only then ``slot-x.new`` becomes ``slot-x``, the slot is ``pending``, then ``armed`` and the boot
loader is told (``ArmTrial``). A failure anywhere before (4) leaves the slot ``installing``: no boot
loader is ever pointed at it.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from cryptography.hazmat.primitives.asymmetric import ec

from roamline.firmware.errors import PeerError, UsageError
from roamline.firmware.update import rootslot
from roamline.firmware.update.bootloader import BootLoader, SlotFiles, atomic_write, fsync_dir, slot_folder
from roamline.firmware.update.install import CHUNK, _HashingReader, read_header, run_health, verify_bundle
from roamline.firmware.update.rootslot import RootState
from roamline.wire import update

log = logging.getLogger(__name__)

IMAGE_JSON = Path("/etc/roamline/image.json")
DEV_DIR = Path("/dev/disk/by-partuuid")


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """What the image recorded about itself (``/etc/roamline/image.json``, provisioning/image_plan.py)."""
    disk_id: str
    board: str
    partuuids: dict[str, str]  # slot -> PARTUUID
    sizes: dict[str, int]  # slot -> partition bytes

    @classmethod
    def load(cls, path: Path) -> ImageRecord:
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
            slots = body["slots"]
            return cls(str(body["disk_id"]).lower(), str(body["board"]),
                       {s: str(slots[s]["partuuid"]).lower() for s in rootslot.ROOT_SLOTS},
                       {s: int(slots[s]["size_bytes"]) for s in rootslot.ROOT_SLOTS})
        except OSError as exc:
            raise UsageError(f"{path}: {exc.strerror or exc}") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise PeerError(f"{path}: not an image record ({exc})") from None


def bootloader_name(record: ImageRecord, override: str | None = None) -> str:
    """The boot-loader backend of the image's board profile (``[backends] bootloader``)."""
    if override:
        return override
    from roamline.board.profile import load_profile

    return load_profile(record.board).backends.bootloader


class FileRootState:
    """The root-slot state as JSON in ``DIR/root/state.json`` (atomic writes), each slot's manifest as
    ``DIR/root/manifest-X.json`` (its health command, after the slot boots)."""

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory) / "root"
        self.path = self.dir / "state.json"

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> RootState:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return RootState()
        except OSError as exc:
            raise PeerError(f"{self.path}: {exc.strerror or exc}") from None
        try:
            return RootState.from_json(json.loads(raw))
        except ValueError:
            raise PeerError(f"{self.path}: not JSON") from None

    def save(self, state: RootState) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, json.dumps(state.to_json(), sort_keys=True).encode())

    def save_manifest(self, slot: str, manifest: update.Manifest) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write(self.dir / f"manifest-{slot}.json", manifest.encode())

    def manifest(self, slot: str) -> update.Manifest:
        try:
            return update.Manifest.decode((self.dir / f"manifest-{slot}.json").read_bytes())
        except OSError as exc:
            raise PeerError(f"no manifest for root slot {slot}: {exc.strerror or exc}") from None


def perform(loader: BootLoader, actions: tuple[rootslot.Action, ...], files: SlotFiles | None = None) -> None:
    for action in actions:
        log.info("root-bootloader", extra={"fields": {"backend": loader.name, "action": repr(action)}})
        loader.perform(action, files)


def _write_image(src: IO[bytes], size: int, device: Path) -> str:
    """Stream ``size`` bytes onto ``device`` (a partition, or a file in tests); their SHA-256."""
    digest = hashlib.sha256()
    fd = os.open(device, os.O_WRONLY)  # never O_CREAT: the partition must exist
    try:
        left = size
        while left:
            chunk = src.read(min(CHUNK, left))
            if not chunk:
                raise update.BundleError("root image ends early")
            digest.update(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
            left -= len(chunk)
        os.fsync(fd)
    finally:
        os.close(fd)
    return digest.hexdigest()


def read_back(device: Path, size: int) -> str:
    """SHA-256 of the first ``size`` bytes of ``device`` as stored: the cached pages are dropped first
    (fsync + POSIX_FADV_DONTNEED), so the bytes come from the device."""
    fd = os.open(device, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        digest = hashlib.sha256()
        left = size
        while left:
            chunk = os.read(fd, min(CHUNK, left))
            if not chunk:
                raise PeerError(f"{device}: shorter than the {size}-byte root image written to it")
            digest.update(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    return digest.hexdigest()


def _copy_member(src: IO[bytes], dest: Path) -> None:
    with open(dest, "wb") as f:
        shutil.copyfileobj(src, f, CHUNK)
        f.flush()
        os.fsync(f.fileno())


def install_root_bundle(path: Path, store: FileRootState, loader: BootLoader, record: ImageRecord,
                        trusted: ec.EllipticCurvePublicKey, *, dev_dir: Path = DEV_DIR) -> tuple[str, str]:
    """Verify, write the inactive root slot, arm its trial; returns (slot, version). See the docstring."""
    manifest = verify_bundle(path, trusted)
    root = manifest.root
    if root is None:
        raise update.BundleError("not a root bundle (an application bundle: its slots are under /data)")
    state = store.load()
    if state.committed != loader.committed():
        raise PeerError(f"the boot loader commits root slot {loader.committed()}, the root state says "
                        f"{state.committed}: boot once (box update boot) before updating")
    state, slot, first = rootslot.begin_install(state)
    if root.image_size > record.sizes[slot]:
        raise update.BundleError(f"root image of {root.image_size} bytes does not fit slot {slot} "
                                 f"({record.sizes[slot]} bytes)")
    device = dev_dir / record.partuuids[slot]
    if not device.exists():
        raise PeerError(f"{device}: root slot {slot}'s partition is not there")
    perform(loader, first)  # an armed trial of this slot is forgotten before a byte of it changes
    store.save(state)
    log.info("root-install-begin", extra={"fields": {"slot": slot, "version": manifest.version,
                                                      "device": str(device)}})
    stage = loader.stage_dir(slot)
    staging = stage.with_name(stage.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    wanted = {f"boot/{root.kernel}", f"boot/{root.initrd}"}
    try:
        with open(path, "rb") as f:
            header = read_header(f)
            if header.manifest != manifest:
                raise update.BundleError("bundle changed while it was installed")
            update.verify(header, trusted)
            check = update.PayloadCheck(manifest)
            stream = io.BufferedReader(_HashingReader(f, check), CHUNK)
            image_digest, got = None, set()
            try:
                with tarfile.open(fileobj=stream, mode="r|gz") as tar:
                    for member in tar:
                        name = member.name.removeprefix("./")
                        if member.isdir() and name in ("boot", ""):
                            continue
                        if not member.isreg():
                            raise update.BundleError(f"root bundle member {member.name!r} is not a file")
                        src = tar.extractfile(member)
                        assert src is not None
                        if name == update.ROOT_IMAGE and image_digest is None:
                            if member.size != root.image_size:
                                raise update.BundleError(f"root image is {member.size} bytes, "
                                                         f"the manifest says {root.image_size}")
                            image_digest = _write_image(src, member.size, device)
                        elif name in wanted and name not in got:
                            _copy_member(src, staging / name.removeprefix("boot/"))
                            got.add(name)
                        else:
                            raise update.BundleError(f"root bundle member {member.name!r} is not expected")
                while stream.read(CHUNK):
                    pass
            except (tarfile.TarError, EOFError) as exc:
                raise update.BundleError(f"bundle payload is not a gzip'd tar: {exc}") from None
            check.finish()
        if image_digest is None or got != wanted:
            raise update.BundleError("root bundle lacks its rootfs.img, kernel or initrd")
        if image_digest != root.image_sha256:
            raise update.BundleError("root image does not match its signed digest (corrupted)")
        if read_back(device, root.image_size) != root.image_sha256:
            raise PeerError(f"{device}: read back, the root image does not match its signed digest")
        fsync_dir(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(stage, ignore_errors=True)
    staging.rename(stage)
    fsync_dir(stage.parent)
    state = rootslot.finish_install(store.load(), slot, manifest.version)
    store.save_manifest(slot, manifest)
    state, actions = rootslot.arm(state, slot)
    store.save(state)  # armed before the boot loader is told: power lost between them ends in "bad"
    folder = slot_folder(slot)
    perform(loader, actions, SlotFiles(f"{folder}/{root.kernel}", f"{folder}/{root.initrd}"))
    log.info("root-installed", extra={"fields": {"slot": slot, "version": manifest.version}})
    return slot, manifest.version


def observe(store: FileRootState, loader: BootLoader) -> RootState:
    """At boot: what the boot loader did, recorded; its consequences performed (a lost trial disarmed)."""
    state = rootslot.reconcile(store.load(), loader.committed())
    state, actions = rootslot.observe_boot(state, loader.booted())
    store.save(state)
    perform(loader, actions)
    return state


def check_root_health(store: FileRootState, loader: BootLoader,
                      timeout: float) -> tuple[RootState, bool, str]:
    """The trial slot's health command (from its signed manifest); healthy commits it with the boot
    loader, unhealthy marks it bad (the next boot is the committed slot's)."""
    state = store.load()
    slot = state.running
    try:
        manifest = store.manifest(slot)
    except (PeerError, update.BundleError) as exc:
        healthy, reason = False, str(exc)
    else:
        env = {k: v for k, v in os.environ.items() if k != "ROAMLINE_SLOT"}  # the service's app slot is
        env.update(ROAMLINE_ROOT_SLOT=slot, ROAMLINE_VERSION=manifest.version)  # its own business
        healthy, reason = run_health(list(manifest.health), Path("/"), env, timeout)
    new, actions = rootslot.health(state, healthy)
    store.save(new)  # recorded first: power lost before the boot loader is told is mended at boot (observe)
    perform(loader, actions)
    log.info("root-health", extra={"fields": {"slot": slot, "healthy": healthy, "reason": reason}})
    return new, healthy, reason
