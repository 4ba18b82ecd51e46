"""Build a Roamline SD-card image: the steps behind ``roamline provision image build``.

1. root filesystem: Debian arm64 by mmdebstrap (foreign-architecture through qemu-user-static and
   binfmt_misc; the tarball is cached by its package list), or the root of a Raspberry Pi OS Lite image
   (``--base``: read with debugfs, never mounted);
2. Python: the Roamline wheel and the aarch64 wheels of its dependencies, ``pip install --target``
   (cached by their versions);
3. customise the root directory (image_rootfs);
4. boot partition files (Debian's raspi-firmware, kernel, initrd and device trees, or the base's own);
5. filesystems (mkfs.ext4 -d, mkfs.vfat + mcopy) and 6. the disk (image_assemble), 7. its SHA-256.

Each step is a function of paths in and paths out; ``build`` strings them together and reports
progress through ``Reporter``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from roamline.provisioning import image_assemble, image_plan, image_rootfs
from roamline.provisioning.errors import PeerError, UsageError
from roamline.provisioning.mbr import boot_partition, parse_mbr

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# What the root slot needs from Debian: init, the kernel and its initrd, the Pi firmware, Python, the
# card and GPS daemons the boards use, networking, and the tools first boot and updates use. Not
# ca-certificates: the link pins the Roamline CA (wire/quic.py), and its two certificate rehashes
# cost minutes of a cold build under emulation.
DEBIAN_PACKAGES = (
    "systemd-sysv", "udev", "kmod", "initramfs-tools", "linux-image-arm64", "raspi-firmware",
    "python3", "python3-pyscard", "pcscd", "gpsd", "iproute2", "netbase", "e2fsprogs", "dosfstools",
)
BASE_NEEDS = ("python3", "python3-pyscard", "pcscd", "gpsd")
PY_PLATFORMS = ("manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64")
FROM_DEBIAN = frozenset({"pyscard"})  # no aarch64 wheel on PyPI: python3-pyscard in the root


class BuildFailed(PeerError):
    """A build step's tool failed."""


@dataclass
class Reporter:
    """Progress: ``[n/7] step`` lines, and percentages (every 10 %) for long steps."""
    write: Callable[[str], None] = field(default=lambda s: print(s, file=sys.stderr, flush=True))
    total: int = 7
    n: int = 0
    _last: tuple[str, int] = ("", -1)
    started: float = field(default_factory=time.monotonic)

    def step(self, text: str) -> None:
        self.n += 1
        self.write(f"image: [{self.n}/{self.total}] {text} ({time.monotonic() - self.started:.0f} s)")

    def note(self, text: str) -> None:
        self.write(f"image:       {text}")

    def percent(self, what: str, done: int, total: int) -> None:
        pct = 100 * done // total if total else 100
        if (what, pct // 10) != self._last:
            self._last = (what, pct // 10)
            self.write(f"image:       {what} {pct}%")


HEARTBEAT_S = 30.0


def run_tool(argv: list[str], what: str, *, lines: Callable[[str], None] | None = None,
             env: dict[str, str] | None = None, heartbeat: tuple[Reporter, str] | None = None) -> str:
    """Run a tool; its output lines go to ``lines`` as they come. Raises BuildFailed with its last line.
    With ``heartbeat`` (reporter, name), a quiet tool gets a "still running" note every 30 s."""
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, "LC_ALL": "C", **(env or {})})
    except FileNotFoundError:
        raise UsageError(f"{argv[0]} not found: run scripts/bootstrap.sh") from None
    out: list[str] = []
    assert proc.stdout is not None
    done = threading.Event()
    if heartbeat is not None:
        rep, name = heartbeat
        t0 = time.monotonic()

        def beat() -> None:
            while not done.wait(HEARTBEAT_S):
                rep.note(f"{name}: still running, {time.monotonic() - t0:.0f} s"
                         + (f" (last: {out[-1].strip()[:90]})" if out else ""))
        threading.Thread(target=beat, daemon=True).start()
    try:
        for line in proc.stdout:
            out.append(line.rstrip("\n"))
            del out[:-200]
            if lines is not None:
                lines(line.rstrip("\n"))
    finally:
        done.set()
    if proc.wait() != 0:
        tail = next((x for x in reversed(out) if x.strip()), "(no message)")
        raise BuildFailed(f"{what}: {argv[0]} exited {proc.returncode}: {tail}")
    return "\n".join(out)


# -- 1. root filesystems ------------------------------------------------------------------------------

def check_foreign_arch() -> None:
    """arm64 binaries must run here (binfmt_misc + qemu-user-static), or mmdebstrap cannot configure."""
    reg = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
    if not reg.exists() or "enabled" not in reg.read_text(errors="replace"):
        raise UsageError("arm64 binaries cannot run here: mount binfmt_misc and enable qemu-aarch64 "
                         "(scripts/bootstrap.sh --image does both)")


# The initrd holds only what mounts the root: the root's filesystem and the block devices of the
# boards (virtio for the qemu `virt` machine, the Pi's SD host controllers), not MODULES=most's
# thousands of modules, each copied by an emulated fork under qemu-user (70+ minutes; this: ~1-2).
INITRD_MODULES = (
    "ext4", "crc32c_generic", "virtio_blk", "virtio_mmio", "virtio_pci", "mmc_block", "sdhci_iproc",
    "bcm2835", "sdhci_pltfm",
    # the boot partition, read (and its one-shot trial flag cleared) by INITRD_SLOT_SCRIPT
    "vfat", "nls_cp437", "nls_ascii", "nls_utf8",
)
# The root-slot choice where no Pi firmware makes it (the qemu `virt` machine, board profile
# `bootloader = "initrd-flag"`; firmware/update/bootloader.py writes the files): two files on the boot
# partition, ``roamline-slot.txt`` (the committed root slot, A or B) and ``roamline-tryboot.txt`` (a
# one-shot trial: read, emptied before the root is mounted, so any later boot is back on the committed
# slot). The choice goes to /conf/param.conf (initramfs-tools sources it after each local-top script)
# and to /run/roamline-slot (moved into the booted system's /run). No files: root= is left as it is
# (the Pi's firmware chose it through config.txt / tryboot.txt). klibc tools only: no rm, sed or grep.
INITRD_SLOT_SCRIPT = """#!/bin/sh
# Roamline (docs/image.md): the initrd's root-slot choice for boards without the Pi's tryboot
PREREQ=""
case "$1" in prereqs) echo "$PREREQ"; exit 0 ;; esac
MNT="${ROAMLINE_BOOTMNT:-/run/roamline-bootpart}"
PARAM="${ROAMLINE_PARAM:-/conf/param.conf}"
RUNFILE="${ROAMLINE_RUNFILE:-/run/roamline-slot}"
DEVDIR="${ROAMLINE_DEVDIR:-/dev/disk/by-partuuid}"
MOUNT="${ROAMLINE_MOUNT:-mount}"
UMOUNT="${ROAMLINE_UMOUNT:-umount}"
WAIT="${ROAMLINE_WAIT:-30}"
case "$ROOT" in
  PARTUUID=*-02) given=A ;;
  PARTUUID=*-03) given=B ;;
  *) exit 0 ;;
esac
id="${ROOT#PARTUUID=}"
disk="${id%-*}"
dev="$DEVDIR/$disk-01"
n=0
while [ ! -e "$dev" ] && [ "$n" -lt "$WAIT" ]; do sleep 1; n=$((n + 1)); done
if [ ! -e "$dev" ]; then
  echo "roamline-slot: no boot partition $dev: root slot $given as given"
  exit 0
fi
modprobe -q vfat 2>/dev/null
mkdir -p "$MNT"
if ! $MOUNT -t vfat -o rw "$dev" "$MNT"; then
  echo "roamline-slot: cannot mount $dev: root slot $given as given"
  exit 0
fi
committed=""
trial=""
[ -f "$MNT/roamline-slot.txt" ] && read -r committed < "$MNT/roamline-slot.txt"
[ -f "$MNT/roamline-tryboot.txt" ] && read -r trial < "$MNT/roamline-tryboot.txt"
if [ -n "$trial" ]; then
  : > "$MNT/roamline-tryboot.txt"
  sync
fi
$UMOUNT "$MNT"
mode=""
case "$trial" in A|B) slot="$trial"; mode=trial ;; esac
if [ -z "$mode" ]; then
  case "$committed" in
    A|B) slot="$committed"; mode=committed ;;
    *) exit 0 ;;
  esac
fi
case "$slot" in A) nr=02 ;; B) nr=03 ;; esac
echo "ROOT=PARTUUID=$disk-$nr" >> "$PARAM"
echo "slot=$slot mode=$mode" > "$RUNFILE"
echo "roamline-slot: root slot $slot ($mode)"
"""
INITRAMFS_CONF = "MODULES=list\nCOMPRESS=gzip\n"
INITRAMFS_HOOK = f"""#!/bin/sh
# Roamline (provisioning/image_build.py): the modules that mount the root, nothing else
[ "$1" = prereqs ] && exit 0
. /usr/share/initramfs-tools/hook-functions
for m in {' '.join(INITRD_MODULES)}; do
  manual_add_modules "$m" || true
done
"""


INITRD_SLOT_PATH = "/etc/initramfs-tools/scripts/local-top/roamline-slot"


def rootfs_hooks() -> list[str]:
    """mmdebstrap options that set the initrd up before the kernel's package makes it, and dpkg without
    fsync (the tree is thrown away into a tarball)."""
    conf, hook = "/etc/initramfs-tools/conf.d/roamline.conf", "/etc/initramfs-tools/hooks/roamline"
    slot = INITRD_SLOT_PATH
    setup = (f'mkdir -p "$1/etc/initramfs-tools/conf.d" "$1/etc/initramfs-tools/hooks" '
             f'"$1/etc/initramfs-tools/scripts/local-top" && '
             f"printf '%s' '{INITRAMFS_CONF}' > \"$1{conf}\" && "
             f"cat > \"$1{hook}\" <<'ROAMLINE_EOF'\n{INITRAMFS_HOOK}ROAMLINE_EOF\n"
             f"cat > \"$1{slot}\" <<'ROAMLINE_EOF'\n{INITRD_SLOT_SCRIPT}ROAMLINE_EOF\n"
             f'chmod 0755 "$1{hook}" "$1{slot}"')
    return ["--dpkgopt=force-unsafe-io", f"--essential-hook={setup}"]


def _mmdebstrap_line(report: Reporter, started: float) -> Callable[[str], None]:
    """Progress from mmdebstrap --verbose: its phases, each package configured, the initrd."""
    count = [0]

    def line(s: str) -> None:
        s = s.strip()
        if s.startswith("I: "):
            report.note(f"mmdebstrap: {s[3:]} ({time.monotonic() - started:.0f} s)")
        elif s.startswith("Setting up "):
            count[0] += 1
            if count[0] % 10 == 1:
                report.note(f"mmdebstrap: configured {count[0]} packages, now {s[11:].split()[0]} "
                            f"({time.monotonic() - started:.0f} s)")
        elif "update-initramfs: Generating" in s or s.startswith(("E: ", "W: Possible missing")):
            report.note(f"mmdebstrap: {s} ({time.monotonic() - started:.0f} s)")
    return line


def rootfs_key(packages: Iterable[str], suite: str = SUITE, mirror: str = MIRROR) -> str:
    """The cache key of a root tarball: what goes into it (packages, suite, mirror, hooks)."""
    return hashlib.sha256(json.dumps([suite, mirror, sorted(set(packages)), rootfs_hooks()]).encode()
                          ).hexdigest()[:16]


def debian_rootfs_tar(cache: Path, report: Reporter, *, packages: Iterable[str] = DEBIAN_PACKAGES,
                      suite: str = SUITE, mirror: str = MIRROR) -> Path:
    """mmdebstrap's arm64 tarball for ``packages`` (reused from ``cache`` when the same list was built)."""
    pkgs = sorted(set(packages))
    tar = cache / f"rootfs-{suite}-arm64-{rootfs_key(pkgs, suite, mirror)}.tar"
    if tar.exists():
        report.note(f"reusing {tar} ({tar.stat().st_size >> 20} MiB)")
        return tar
    check_foreign_arch()
    cache.mkdir(parents=True, exist_ok=True)
    part = tar.with_suffix(".tar.part")
    argv = ["mmdebstrap", "--verbose", "--arch=arm64", "--variant=minbase",
            "--components=main,non-free-firmware", "--aptopt=APT::Install-Recommends \"false\"",
            *rootfs_hooks(), f"--include={','.join(pkgs)}", "--format=tar", suite, str(part), mirror]
    # the tree lives in memory while it is built when there is room (no disk writes under emulation)
    shm = Path("/dev/shm")
    env = {"TMPDIR": str(shm)} if shm.is_dir() and shutil.disk_usage(shm).free > 4 << 30 else {}
    started = time.monotonic()
    report.note(f"mmdebstrap: {len(pkgs)} packages and their dependencies, arm64 under qemu-user "
                f"(minutes; cached as {tar.name})")
    run_tool(argv, "Debian root filesystem", lines=_mmdebstrap_line(report, started), env=env,
             heartbeat=(report, "mmdebstrap"))
    part.replace(tar)
    report.note(f"root tarball {tar.stat().st_size >> 20} MiB in {time.monotonic() - started:.0f} s")
    return tar


def extract_tar(tar: Path, root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    run_tool(["tar", "--numeric-owner", "-xpf", str(tar), "-C", str(root)], "root filesystem")


def installed_packages(status: str) -> set[str]:
    """The installed packages in a dpkg status file's text."""
    names: set[str] = set()
    for stanza in status.split("\n\n"):
        fields = dict(re.findall(r"^([A-Za-z-]+): ?(.*)$", stanza, flags=re.M))
        if fields.get("Status", "").endswith(" installed") and "Package" in fields:
            names.add(fields["Package"])
    return names


@dataclass(frozen=True, slots=True)
class BaseImage:
    path: Path
    boot_offset: int
    root_offset: int
    root_size: int


def open_base(path: Path) -> BaseImage:
    """A Raspberry Pi OS Lite image: FAT boot partition and its first Linux (ext4) partition."""
    with path.open("rb") as f:
        parts = parse_mbr(f.read(512))
    size = path.stat().st_size
    boot = boot_partition(parts, size)
    roots = [p for p in sorted(parts, key=lambda p: p.number) if p.type == image_plan.LINUX]
    if not roots:
        raise UsageError(f"{path}: no Linux partition (not a Raspberry Pi OS image)")
    root = roots[0]
    if root.end > size:
        raise UsageError(f"{path}: partition {root.number} ends past the image")
    return BaseImage(path, boot.offset, root.offset, root.size)


def _copy_range(src: Path, offset: int, size: int, dst: Path) -> None:
    with src.open("rb") as s, dst.open("wb") as d:
        s.seek(offset)
        left = size
        while left:
            chunk = s.read(min(left, 4 << 20))
            if not chunk:
                raise UsageError(f"{src}: ends inside a partition")
            d.write(chunk)
            left -= len(chunk)


def extract_base(base: BaseImage, root: Path, boot: Path, work: Path, report: Reporter) -> None:
    """The base's root (debugfs rdump, owners kept when run as root) and boot files (mcopy -s)."""
    fs = work / "base-root.ext4"
    _copy_range(base.path, base.root_offset, base.root_size, fs)
    listing = run_tool(["debugfs", "-R", "ls -p /", str(fs)], "base root listing")
    names = [m.group(1) for m in re.finditer(r"^/\d+/\d+/\d+/\d+/([^/]+)/", listing, flags=re.M)]
    names = [n for n in names if n not in (".", "..", "lost+found")]
    root.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names, 1):
        run_tool(["debugfs", "-R", f'rdump "/{name}" "{root}"', str(fs)], f"base root /{name}")
        report.percent("base root", i, len(names))
    fs.unlink()
    boot.mkdir(parents=True, exist_ok=True)
    run_tool(["mcopy", "-s", "-n", "-i", f"{base.path}@@{base.boot_offset}", "::/*", str(boot)],
             "base boot partition", env={"MTOOLS_SKIP_CHECK": "1", "MTOOLS_NO_VFAT": "1"})


def add_base_packages(root: Path, report: Reporter) -> None:
    """Install what the base lacks from BASE_NEEDS with the base's own apt, in a qemu-user chroot."""
    status = root / "var/lib/dpkg/status"
    have = installed_packages(status.read_text(errors="replace")) if status.exists() else set()
    missing = [p for p in BASE_NEEDS if p not in have]
    if not missing:
        report.note(f"base has {', '.join(BASE_NEEDS)}")
        return
    check_foreign_arch()
    report.note(f"installing {' '.join(missing)} into the base (apt in a chroot, qemu-user)")
    script = (f"set -e; mount --bind /dev '{root}/dev'; mount -t proc proc '{root}/proc'; "
              f"cp /etc/resolv.conf '{root}/etc/resolv.conf'; "
              f"chroot '{root}' apt-get update -qq; "
              f"DEBIAN_FRONTEND=noninteractive chroot '{root}' apt-get install -y -qq "
              "--no-install-recommends "
              f"{' '.join(missing)}; chroot '{root}' apt-get clean")
    run_tool(["unshare", "--mount", "--fork", "sh", "-c", script], "packages for the base",
             lines=lambda s: report.note("apt: " + s) if s.startswith(("Setting up", "E:")) else None)


# -- 2. Python -----------------------------------------------------------------------------------------

def runtime_requirements(dist: str = "roamline") -> dict[str, str]:
    """{distribution: installed version} for ``dist``'s run-time dependencies, transitively, as this
    environment has them (so the image gets the versions the tests ran), markers evaluated for an
    aarch64 Linux Python of this version, no extras."""
    from importlib import metadata

    from packaging.requirements import Requirement

    env = {"platform_machine": "aarch64", "sys_platform": "linux", "platform_system": "Linux",
           "extra": ""}
    found: dict[str, str] = {}
    todo = [dist]
    while todo:
        name = todo.pop()
        for req_text in metadata.requires(name) or []:
            req = Requirement(req_text)
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            key = req.name.lower().replace("_", "-")
            if key in found:
                continue
            found[key] = metadata.version(req.name)
            todo.append(req.name)
    return dict(sorted(found.items()))


def source_tree() -> Path | None:
    """This checkout (where pyproject.toml names roamline), if the command runs from one."""
    import roamline.provisioning as here

    for parent in Path(here.__file__).resolve().parents:
        pp = parent / "pyproject.toml"
        if pp.exists() and 'name = "roamline"' in pp.read_text(errors="replace"):
            return parent
    return None


def build_wheel(out: Path, report: Reporter) -> Path:
    tree = source_tree()
    if tree is None:
        raise UsageError("not running from a Roamline checkout: pass --wheel FILE (a roamline wheel)")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="roamline-src-") as tmp:
        files = subprocess.run(["git", "-C", str(tree), "ls-files", "-z", "--cached", "--others",
                                "--exclude-standard"], capture_output=True, check=False)
        if files.returncode != 0:
            raise BuildFailed(f"git ls-files in {tree} failed")
        for rel in files.stdout.decode().split("\0"):
            src = tree / rel
            if rel and (src.exists() or src.is_symlink()):
                dst = Path(tmp) / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                if src.is_symlink():
                    dst.symlink_to(src.readlink())
                elif src.is_file():
                    shutil.copy2(src, dst)
        run_tool([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                  "-w", str(out), tmp], "roamline wheel")
    wheels = sorted(out.glob("roamline-*.whl"))
    if not wheels:
        raise BuildFailed("pip wheel made no roamline wheel")
    report.note(f"wheel {wheels[-1].name}")
    return wheels[-1]


def _site_key(pins: list[str]) -> str:
    return hashlib.sha256(json.dumps([sorted(pins), PY_PLATFORMS, "cp311", sys.version_info[:2]]
                                     ).encode()).hexdigest()[:16]


def dependency_site(cache: Path, report: Reporter, reqs: dict[str, str]) -> Path:
    """``pip install --target`` of the pinned aarch64 dependencies (no Roamline), cached by the pins:
    installing them (numpy, scipy, ...; ~400 MiB, byte-compiled) takes minutes, and they change far less
    often than Roamline does."""
    pins = [f"{n}=={v}" for n, v in reqs.items()]
    site = cache / f"site-aarch64-cp311-{_site_key(pins)}"
    if (site / ".complete").exists():
        report.note(f"{len(pins)} dependencies: reusing {site}")
        return site
    wheels = cache / "wheels-aarch64-cp311"
    wheels.mkdir(parents=True, exist_ok=True)
    plat = [a for p in PY_PLATFORMS for a in ("--platform", p)]
    common = [*plat, "--python-version", "3.11", "--implementation", "cp", "--only-binary=:all:",
              "--no-deps"]
    have = {w.name.lower() for w in wheels.glob("*.whl")}
    fetch = [f"{n}=={v}" for n, v in reqs.items()
             if not any(h.startswith(f"{n.replace('-', '_')}-{v}-") for h in have)]
    report.note(f"{len(pins)} dependencies (pyscard from Debian), {len(pins) - len(fetch)} wheels cached in "
                f"{wheels}")
    if fetch:
        report.note(f"downloading {len(fetch)} aarch64 wheels")
        run_tool([sys.executable, "-m", "pip", "download", "-q", *common, "-d", str(wheels), *fetch],
                 "aarch64 wheels", heartbeat=(report, "pip download"))
    part = site.with_name(site.name + ".part")
    shutil.rmtree(part, ignore_errors=True)
    # the root is read-only: byte-code compiled here (same Python minor version) or never cached there
    compile_opt = [] if sys.version_info[:2] == (3, 11) else ["--no-compile"]
    report.note(f"pip install --target of {len(pins)} aarch64 wheels (minutes; cached as {site.name})")
    run_tool([sys.executable, "-m", "pip", "install", "-q", *common, "--no-index", "--find-links",
              str(wheels), "--target", str(part), *compile_opt, *pins], "pip --target",
             heartbeat=(report, "pip install"))
    shutil.rmtree(part / "bin", ignore_errors=True)  # console scripts with this machine's Python
    (part / ".complete").write_text("\n".join(pins) + "\n")
    shutil.rmtree(site, ignore_errors=True)
    part.replace(site)
    return site


def python_site(cache: Path, work: Path, report: Reporter, wheel: Path | None = None) -> Path:
    """The cached dependency site plus the Roamline wheel (``pip install --target``, no code runs)."""
    reqs = {n: v for n, v in runtime_requirements().items() if n not in FROM_DEBIAN}
    wheel = wheel or build_wheel(work / "wheel", report)
    deps = dependency_site(cache, report, reqs)
    site = work / "site"
    shutil.copytree(deps, site, symlinks=True, ignore=shutil.ignore_patterns(".complete"))
    compile_opt = [] if sys.version_info[:2] == (3, 11) else ["--no-compile"]
    run_tool([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target",
              str(site), *compile_opt, str(wheel)], "pip --target roamline")
    shutil.rmtree(site / "bin", ignore_errors=True)
    return site


# -- the whole build -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Request:
    board: str  # a board profile name
    out: Path
    cache: Path
    base: Path | None = None
    wheel: Path | None = None
    site: Path | None = None  # a prepared pip --target folder instead of step 2
    rootfs: Path | None = None  # a prepared root filesystem tarball instead of mmdebstrap
    boot_mib: int = 256
    data_mib: int = 256
    disk_id: int | None = None
    keep: Path | None = None  # keep the work folder here (root tree, partition files)


@dataclass(frozen=True, slots=True)
class Result:
    path: Path
    sha256: str
    size: int
    seconds: float
    layout: image_plan.ImageLayout
    kernel: str
    initrd: str


def board_names() -> set[str]:
    """Board profile names, and each Pi model that has exactly one profile (``pi4`` for pi4-ag1171)."""
    from roamline.board.profile import available_profiles, load_profile

    names = set(available_profiles())
    models: dict[str, list[str]] = {}
    for n in names:
        models.setdefault(load_profile(n).pi_model, []).append(n)
    return names | {m for m, ps in models.items() if len(ps) == 1}


def resolve_board(name: str) -> str:
    """The profile a ``--board`` word names."""
    from roamline.board.profile import available_profiles, load_profile

    profiles = available_profiles()
    if name in profiles:
        return name
    matches = [n for n in profiles if load_profile(n).pi_model == name]
    if len(matches) != 1:
        raise UsageError(f"--board {name}: names no single board profile (known: {', '.join(profiles)})")
    return matches[0]


def _board(name: str) -> tuple[str, bool, bool]:
    from roamline.board.profile import load_profile

    profile = load_profile(name)
    return profile.pi_model, bool(profile.card_readers), profile.gps is not None


def _base_boot_files(boot: Path, layout: image_plan.ImageLayout) -> tuple[dict[str, Path | bytes], str]:
    """The base's boot files, cmdline.txt pointed at slot A read-only (its resize/first-boot hooks out)."""
    files: dict[str, Path | bytes] = {}
    for p in sorted(boot.rglob("*")):
        if p.is_file():
            files[p.relative_to(boot).as_posix()] = p
    cmd = boot / "cmdline.txt"
    old = cmd.read_text(errors="replace").split() if cmd.exists() else []
    keep = [w for w in old if not w.startswith(("root=", "rootfstype=", "init=", "quiet", "resize"))
            and w not in ("ro", "rw") and "firstboot" not in w and "init_resize" not in w]
    console = " ".join(w for w in keep if w.startswith("console=")) or "console=serial0,115200 console=tty1"
    rest = [w for w in keep if not w.startswith("console=")]
    text = image_plan.cmdline(layout, "A", console).rstrip("\n")
    files["cmdline.txt"] = (" ".join([text, *[w for w in rest if w not in text.split()]]) + "\n").encode()
    kernel = next((k for k in ("kernel8.img", "kernel_2712.img") if k in files), "")
    return files, kernel


def build(req: Request, report: Reporter) -> Result:
    started = time.monotonic()
    pi_model, readers, gps = _board(req.board)
    image_plan.board_boot(pi_model)
    if req.base is not None and pi_model == "sim":
        raise UsageError("--base takes a Raspberry Pi OS image: the sim board boots Debian under qemu")
    work_ctx = tempfile.TemporaryDirectory(prefix=".roamline-image-", dir=req.out.absolute().parent,
                                           ignore_cleanup_errors=True)
    work = Path(work_ctx.name)
    try:
        root, boot = work / "root", work / "boot"
        report.step("root filesystem" + (f" from {req.base.name}" if req.base else
                                         f" from {req.rootfs.name}" if req.rootfs else " (Debian arm64)"))
        if req.base is None:
            extract_tar(req.rootfs or debian_rootfs_tar(req.cache, report), root)
        else:
            extract_base(open_base(req.base), root, boot, work, report)
            add_base_packages(root, report)
        report.step("Python: Roamline and its dependencies")
        site = req.site if req.site is not None else python_site(req.cache, work, report, req.wheel)
        report.step("customise the root (units, fstab, first boot, read-only root)")
        disk_id = req.disk_id or int.from_bytes(os.urandom(4), "big") or 1
        # size the slots with the site included: plan on a provisional layout, then the real one
        provisional = image_plan.plan_layout(root_bytes=0, disk_id=disk_id)
        spec = image_rootfs.RootSpec(req.board, pi_model, provisional,
                                     "debian" if req.base is None else f"base:{req.base.name}", readers, gps)
        image_rootfs.customise(root, spec, site)
        layout = image_plan.plan_layout(root_bytes=image_rootfs.tree_bytes(root), disk_id=disk_id,
                                        boot_mib=req.boot_mib, data_mib=req.data_mib)
        spec = image_rootfs.RootSpec(spec.board, pi_model, layout, spec.source, readers, gps)
        image_rootfs.customise(root, spec, None)  # image.json with the final layout
        report.step("boot partition files")
        if req.base is None:
            found, kernel, initrd = image_rootfs.boot_files(root, pi_model)
            files: dict[str, Path | bytes] = dict(found)
            files["config.txt"] = image_plan.config_txt(kernel, initrd).encode()
            files["cmdline.txt"] = image_plan.cmdline(layout, "A").encode()
        else:
            files, kernel = _base_boot_files(boot, layout)
            initrd = ""
        report.note(f"{len(files)} files, kernel {kernel or '(none)'}")
        report.step("filesystems (mkfs.ext4 -d, mkfs.vfat + mcopy)")
        labels = image_plan.SLOT_LABELS
        parts = {
            1: image_assemble.make_fat(work / "p1.vfat", layout.boot.size, image_plan.BOOT_LABEL, files),
            2: image_assemble.make_ext4(work / "p2.ext4", layout.root_a.size, labels["A"], root),
            3: image_assemble.make_ext4(work / "p3.ext4", layout.root_b.size, labels["B"]),
            4: image_assemble.make_ext4(work / "p4.ext4", layout.data.size, image_plan.DATA_LABEL),
        }
        report.step(f"assemble {layout.size >> 20} MiB disk")
        digest = image_assemble.assemble(layout, parts, req.out,
                                         lambda what, d, t: report.percent(what, d, t))
        report.step("done")
        if req.keep is not None:
            if req.keep.exists():
                shutil.rmtree(req.keep)
            shutil.move(str(work), str(req.keep))
        return Result(req.out, digest, req.out.stat().st_size, time.monotonic() - started, layout,
                      kernel, initrd)
    finally:
        work_ctx.cleanup()
