"""Write an image to cards, read it back past the page cache, and put each box's identity on it.

Per target: the image is written in ``chunk``-byte pwrites (like ``dd bs=4M``) with an fdatasync every
``flush_every`` bytes (so progress means bytes on the device, and dirty pages stay bounded), then fsync.
Read-back then opens the target again with ``O_DIRECT``, so every byte compared comes from the device,
not from the page cache the writes just filled; where a filesystem refuses ``O_DIRECT`` (tmpfs, for an
image-file target) it falls back to fsync + ``POSIX_FADV_DONTNEED`` on the whole file, which drops the
clean cached pages so reads go to storage. The method used is reported. The image's SHA-256 and the
read-back's are compared; only then is the identity bundle injected (see bootinject) and the target
reported done. A failure at any step is reported with its reason and nothing after it runs; a target
that failed after writing began gets its first MiB zeroed (best effort) so a half-written card does not
look like a flashed one.

``Device`` is the writer's interface to a target; ``FileDevice`` is the real one (block device or file),
and tests wrap it to inject faults.
"""

from __future__ import annotations

import errno
import hashlib
import mmap
import os
import stat
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from roamline.provisioning.bootinject import Bundle, inject
from roamline.provisioning.errors import PeerError, UsageError
from roamline.provisioning.mbr import SECTOR, Partition, boot_partition, parse_mbr

CHUNK = 4 << 20
FLUSH_EVERY = 256 << 20
WIPE = 1 << 20


class FlashFailed(PeerError):
    """A target could not be written, or did not read back as the image."""


class Phase(StrEnum):
    WRITE = "write"
    SYNC = "sync"
    VERIFY = "verify"
    IDENTITY = "identity"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Progress:
    target: str
    phase: Phase
    done: int
    total: int


class Device(Protocol):
    """What the writer needs from a target."""

    path: str

    def open_write(self) -> None: ...
    def write_at(self, data: memoryview, offset: int) -> int: ...
    def sync(self) -> None: ...
    def finish_write(self, size: int) -> None: ...
    def open_read(self) -> str: ...  # returns the method that bypasses the cache
    def read_at(self, buf: memoryview, offset: int) -> int: ...
    def close(self) -> None: ...


class FileDevice:
    """A block device (opened O_EXCL: the kernel refuses if something holds it) or an image file."""

    def __init__(self, path: str, *, direct: bool = True) -> None:
        self.path = path
        self.direct = direct  # False: always the fsync + POSIX_FADV_DONTNEED read-back
        self._wfd: int | None = None
        self._rfd: int | None = None
        self._is_file = False

    def open_write(self) -> None:
        if self._wfd is not None:
            return
        try:
            is_block = stat.S_ISBLK(Path(self.path).stat().st_mode)
        except FileNotFoundError:
            is_block = False
        self._is_file = not is_block
        flags = os.O_WRONLY | os.O_CLOEXEC | (os.O_EXCL if is_block else os.O_CREAT)
        self._wfd = os.open(self.path, flags, 0o644)

    def write_at(self, data: memoryview, offset: int) -> int:
        assert self._wfd is not None, "open_write first"
        return os.pwrite(self._wfd, data, offset)

    def sync(self) -> None:
        if self._wfd is not None:
            os.fdatasync(self._wfd)

    def finish_write(self, size: int) -> None:
        assert self._wfd is not None, "open_write first"
        if self._is_file:
            os.ftruncate(self._wfd, size)
        os.fsync(self._wfd)
        os.close(self._wfd)
        self._wfd = None

    def open_read(self) -> str:
        if self._rfd is not None:
            os.close(self._rfd)
            self._rfd = None
        if self.direct:
            try:
                self._rfd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC | os.O_DIRECT)
                return "O_DIRECT"
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
        self._rfd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        os.fsync(self._rfd)
        os.posix_fadvise(self._rfd, 0, 0, os.POSIX_FADV_DONTNEED)
        return "fadvise-dontneed"

    def read_at(self, buf: memoryview, offset: int) -> int:
        assert self._rfd is not None, "open_read first"
        return os.preadv(self._rfd, [buf], offset)

    def close(self) -> None:
        for attr in ("_wfd", "_rfd"):
            fd = getattr(self, attr)
            if fd is not None:
                setattr(self, attr, None)
                os.close(fd)


@dataclass(frozen=True, slots=True)
class Job:
    device: Device
    bundle: Bundle | None = None


@dataclass(frozen=True, slots=True)
class Report:
    target: str
    ok: bool
    bytes_written: int = 0
    image_sha256: str = ""
    readback_sha256: str = ""
    verify_method: str = ""
    write_s: float = 0.0
    verify_s: float = 0.0
    box_id: str = ""
    error: str = ""
    wiped: bool = False

    def as_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"target": self.target, "ok": self.ok}
        if self.ok:
            d.update(bytes=self.bytes_written, sha256=self.readback_sha256, verify=self.verify_method,
                     write_s=round(self.write_s, 3), verify_s=round(self.verify_s, 3))
            if self.box_id:
                d["box_id"] = self.box_id
        else:
            d.update(error=self.error, wiped=self.wiped)
        return d


@dataclass(frozen=True, slots=True)
class ImageInfo:
    path: Path
    size: int
    boot: Partition | None


def read_image(path: Path, need_boot: bool) -> ImageInfo:
    """The image's size and (when identities are to be injected) its boot partition."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            first = f.read(SECTOR)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the image: {exc.strerror}") from None
    if size == 0:
        raise UsageError(f"{path}: the image is empty")
    boot = boot_partition(parse_mbr(first), size) if need_boot else None
    return ImageInfo(path, size, boot)


ProgressSink = Callable[[Progress], None]


def _emit(sink: ProgressSink | None, target: str, phase: Phase, done: int, total: int) -> None:
    if sink is not None:
        sink(Progress(target, phase, done, total))


def _write(image_fd: int, size: int, dev: Device, buf: mmap.mmap, flush_every: int,
           sink: ProgressSink | None) -> None:
    view = memoryview(buf)
    offset, since_flush = 0, 0
    while offset < size:
        n = os.preadv(image_fd, [view[: min(len(view), size - offset)]], offset)
        if n <= 0:
            raise FlashFailed(f"image ended at byte {offset} of {size} (changed while flashing?)")
        done = 0
        while done < n:
            w = dev.write_at(view[done:n], offset + done)
            if w <= 0:
                raise OSError(errno.EIO, "device accepted no bytes")
            done += w
        offset += n
        since_flush += n
        if since_flush >= flush_every:
            dev.sync()
            since_flush = 0
        _emit(sink, dev.path, Phase.WRITE, offset, size)


def _verify(image_fd: int, size: int, dev: Device, buf: mmap.mmap, ibuf: bytearray,
            sink: ProgressSink | None) -> tuple[str, str, str]:
    method = dev.open_read()
    view, iview = memoryview(buf), memoryview(ibuf)
    want, got = hashlib.sha256(), hashlib.sha256()
    offset = 0
    while offset < size:
        n = min(len(view), size - offset)
        rn = -(-n // SECTOR) * SECTOR  # O_DIRECT reads whole sectors
        r = dev.read_at(view[:rn], offset)
        if r < n:
            raise FlashFailed(f"read-back ended at byte {offset + max(r, 0)} of {size}")
        i = os.preadv(image_fd, [iview[:n]], offset)
        if i != n:
            raise FlashFailed(f"image ended at byte {offset + i} of {size} (changed while flashing?)")
        want.update(iview[:n])
        got.update(view[:n])
        offset += n
        _emit(sink, dev.path, Phase.VERIFY, offset, size)
    return want.hexdigest(), got.hexdigest(), method


def _wipe(dev: Device) -> bool:
    try:
        dev.close()
        dev.open_write()
        dev.write_at(memoryview(bytes(WIPE)), 0)
        dev.sync()
        return True
    except OSError:
        return False
    finally:
        try:
            dev.close()
        except OSError:
            pass


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


def flash_one(image: ImageInfo, job: Job, *, chunk: int = CHUNK, flush_every: int = FLUSH_EVERY,
              sink: ProgressSink | None = None) -> Report:
    """Write, verify, inject; a Report either way (never raises for a device failure)."""
    dev = job.device
    buf = mmap.mmap(-1, chunk)  # page-aligned, as O_DIRECT needs
    ibuf = bytearray(chunk)
    image_fd = os.open(image.path, os.O_RDONLY | os.O_CLOEXEC)
    started = False
    step = "open"
    try:
        step = "open"
        dev.open_write()
        started = True
        step = "write"
        t0 = time.perf_counter()
        _write(image_fd, image.size, dev, buf, flush_every, sink)
        step = "sync"
        _emit(sink, dev.path, Phase.SYNC, image.size, image.size)
        dev.finish_write(image.size)
        write_s = time.perf_counter() - t0
        step = "read-back"
        t1 = time.perf_counter()
        want, got, method = _verify(image_fd, image.size, dev, buf, ibuf, sink)
        verify_s = time.perf_counter() - t1
        dev.close()
        if want != got:
            raise FlashFailed(f"read-back sha256 {got[:16]}… differs from the image's {want[:16]}…")
        box_id = ""
        if job.bundle is not None:
            step = "identity"
            assert image.boot is not None, "read_image(need_boot=True) when injecting"
            _emit(sink, dev.path, Phase.IDENTITY, 0, 1)
            inject(dev.path, image.boot, job.bundle)
            box_id = job.bundle.box_id
        _emit(sink, dev.path, Phase.DONE, image.size, image.size)
        return Report(dev.path, True, image.size, want, got, method, write_s, verify_s, box_id)
    except (OSError, PeerError, UsageError) as exc:
        wiped = _wipe(dev) if started else False
        _emit(sink, dev.path, Phase.FAILED, 0, image.size)
        return Report(dev.path, False, error=f"{step}: {_reason(exc)}", wiped=wiped)
    finally:
        dev.close()
        os.close(image_fd)
        buf.close()


def flash_many(image: ImageInfo, jobs: Sequence[Job], *, chunk: int = CHUNK, flush_every: int = FLUSH_EVERY,
               sink: ProgressSink | None = None) -> list[Report]:
    """Flash every job at once (one thread each: the work is in syscalls and hashlib, which release the
    GIL); reports in the order of ``jobs``."""
    lock = threading.Lock()

    def locked(p: Progress) -> None:
        if sink is not None:
            with lock:
                sink(p)

    if len(jobs) == 1:
        return [flash_one(image, jobs[0], chunk=chunk, flush_every=flush_every, sink=sink)]
    with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="flash") as pool:
        futures = [pool.submit(flash_one, image, j, chunk=chunk, flush_every=flush_every, sink=locked)
                   for j in jobs]
        return [f.result() for f in futures]
