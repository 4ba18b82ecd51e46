"""Installing a signed update bundle into the inactive slot, and the health check that keeps or rejects it.

``install_bundle``: (1) the header is read and its signature checked against the trusted operator key, and
the whole payload is hashed against the signed digest — nothing is written before both pass; (2) the
inactive slot is marked ``installing`` (durably) and the payload is extracted into ``slots/X.new`` while
hashed again (the file could change between the passes), each file fsynced; (3) only then is
``slots/X.new`` renamed to ``slots/X`` and the slot marked ``pending``: the next boot tries it once. Power
lost anywhere before (3) leaves the slot ``installing``, which never boots; the running slot is untouched.

``check_health``: runs the booted slot's health command (from its manifest) with a timeout, with
``ROAMLINE_SLOT`` and ``ROAMLINE_VERSION`` naming the slot checked (``box health`` refuses a service that
runs another slot); exit 0 marks the slot good (it becomes the primary), anything else marks it bad, and
the next boot rolls back.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from roamline.firmware.errors import UsageError
from roamline.firmware.update.bootstate import BootState, FileBootState, begin_install, finish_install, mark
from roamline.wire import update

log = logging.getLogger(__name__)
CHUNK = 1 << 20


def load_trusted_key(path: Path) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None
    except ValueError:
        raise UsageError(f"{path}: not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise UsageError(f"{path}: not an EC public key")
    return key


def read_header(f: IO[bytes]) -> update.Header:
    dec = update.HeaderDecoder()
    while (header := dec.header) is None:
        chunk = f.read(4096)
        if not chunk:
            raise update.BundleError("bundle ends inside its header (truncated)")
        dec.feed(chunk)
    f.seek(header.payload_offset)
    return header


def _payload(f: IO[bytes], check: update.PayloadCheck) -> Iterator[bytes]:
    while chunk := f.read(CHUNK):
        check.feed(chunk)
        yield chunk
    check.finish()


def _checked_member(member: tarfile.TarInfo, dest: Path) -> tarfile.TarInfo:
    """What tarfile's ``data`` filter does, for a Python that lacks it (Debian bookworm's 3.11.2, the
    box's: the filters came in 3.11.4): only files, folders and links that stay inside ``dest``; no
    set-id bits, no write for group and others, owned by whoever installs."""
    name = Path(member.name)
    if name.is_absolute() or ".." in name.parts:
        raise tarfile.TarError(f"member {member.name!r} would land outside the slot")
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        raise tarfile.TarError(f"member {member.name!r} is not a file, folder or link")
    if member.issym() or member.islnk():
        base = dest if member.islnk() else (dest / name).parent
        target = os.path.normpath(base / member.linkname)
        if Path(member.linkname).is_absolute() or os.path.commonpath([target, dest]) != str(dest):
            raise tarfile.TarError(f"link {member.name!r} points outside the slot")
    member.mode = (member.mode or 0o644) & 0o755
    member.uid, member.gid, member.uname, member.gname = os.getuid(), os.getgid(), "", ""
    return member


def _extract(tar: tarfile.TarFile, dest: Path) -> None:
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, filter="data")
        return
    dest = dest.resolve()
    for member in tar:
        tar.extract(_checked_member(member, dest), dest)


class _HashingReader(io.RawIOBase):
    """A file object over the payload that feeds a PayloadCheck as tarfile reads it."""

    def __init__(self, f: IO[bytes], check: update.PayloadCheck) -> None:
        self._f, self._check = f, check

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._f.read(len(b))
        self._check.feed(data)
        b[: len(data)] = data
        return len(data)


def _fsync_tree(root: Path) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            if p.is_symlink():
                continue
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fd = os.open(dirpath, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def verify_bundle(path: Path, trusted: ec.EllipticCurvePublicKey) -> update.Manifest:
    """Signature and payload digest of the bundle at ``path`` (BundleError if either fails)."""
    try:
        with open(path, "rb") as f:
            header = read_header(f)
            update.verify(header, trusted)
            check = update.PayloadCheck(header.manifest)
            for _ in _payload(f, check):
                pass
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None
    return header.manifest


def install_bundle(path: Path, store: FileBootState, trusted: ec.EllipticCurvePublicKey) -> tuple[str, str]:
    """Verify, then install into the inactive slot; returns (slot, version). See the module docstring."""
    manifest = verify_bundle(path, trusted)
    state, slot = begin_install(store.load())
    store.save(state)
    log.info("update-install-begin", extra={"fields": {"slot": slot, "version": manifest.version}})
    target = store.slot_dir(slot)
    staging = target.with_name(f"{slot}.new")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        with open(path, "rb") as f:
            header = read_header(f)
            if header.manifest != manifest:
                raise update.BundleError("bundle changed while it was installed")
            update.verify(header, trusted)
            check = update.PayloadCheck(manifest)
            stream = io.BufferedReader(_HashingReader(f, check), CHUNK)
            try:
                with tarfile.open(fileobj=stream, mode="r|gz") as tar:
                    _extract(tar, staging)
                rest = stream.read()
                while rest:
                    rest = stream.read()
            except (tarfile.TarError, OSError, EOFError) as exc:
                if isinstance(exc, OSError) and exc.errno is not None:
                    raise
                raise update.BundleError(f"bundle payload is not a gzip'd tar: {exc}") from None
            check.finish()
        (staging / "manifest.json").write_text(manifest.encode().decode(), encoding="utf-8")
        _fsync_tree(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    _fsync_tree(target.parent)
    store.save(finish_install(store.load(), slot, manifest.version))
    log.info("update-installed", extra={"fields": {"slot": slot, "version": manifest.version}})
    return slot, manifest.version


def run_health(argv: list[str], cwd: Path, env: dict[str, str], timeout: float) -> tuple[bool, str]:
    """Run a bundle's health command: (healthy, reason)."""
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              check=False, env=env)
    except subprocess.TimeoutExpired:
        return False, f"health check did not finish in {timeout:g} s"
    except OSError as exc:
        return False, f"health check did not start: {exc.strerror or exc}"
    if done.returncode == 0:
        return True, "healthy"
    return False, f"health check exited {done.returncode}: {(done.stderr or done.stdout).strip()[-200:]}"


def check_health(store: FileBootState, timeout: float) -> tuple[BootState, bool, str]:
    """Run the booted slot's health command; mark the slot. Returns (state, healthy, reason)."""
    state = store.load()
    slot = state.running
    root = store.slot_dir(slot)
    try:
        manifest = update.Manifest.decode((root / "manifest.json").read_bytes())
        argv = list(manifest.health)
    except (OSError, update.BundleError) as exc:
        healthy, reason = False, f"no manifest in slot {slot}: {exc}"
    else:
        env = {**os.environ, "ROAMLINE_SLOT": slot, "ROAMLINE_VERSION": manifest.version}
        healthy, reason = run_health(argv, root, env, timeout)
    new = mark(state, healthy)
    store.save(new)
    log.info("update-health", extra={"fields": {"slot": slot, "healthy": healthy, "reason": reason}})
    return new, healthy, reason


