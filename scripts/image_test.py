"""`make image-test`: build the sim board's image from Debian arm64 (the rootfs tarball and the aarch64
wheels are cached in ~/.cache/roamline-image), enroll a box with a registry running on this machine,
flash the image to an image file with that identity (`provision flash`), boot it under
qemu-system-aarch64 (`virt` machine, TCG, Debian's arm64 kernel and initrd from the image's root), and
check that first boot took the identity, the firmware service started and its link reached the registry
(the registry logs the box's verified hello). Then (unless --no-update) a signed update in the guest: a
bundle built here (`provision update build`, an operator key whose public half went in with the
identity) on a second virtio disk labelled ROAMUPD; the image's roamline-update-media unit applies it
(`box update apply`) and reboots; the next boot runs the new slot on trial, its health check keeps it
and the link reaches the registry again; a second bundle whose health check fails is applied the same
way and rolled back after its trial boot. Before those (unless --no-root-update), whole-root updates:
a root bundle made here from the image's own root (`mkfs.ext4 -d`, `provision update build --root-image`,
health `roamline box health --config /etc/roamline/box.toml --source service`) is applied in the guest to
the inactive root partition (3) with a one-shot trial armed through the sim board's boot loader (the
initrd's flag file on the boot partition); the next boot must come up on root slot B on trial, its health
check commits it; a second root bundle whose /sbin/init is broken is written to partition 2, its trial
boot panics (`panic=10`: the kernel reboots), and the boot after must be back on the committed B. qemu
runs with -no-reboot: each guest reboot ends qemu and the test starts it again on the same disk (the
kernel and initrd are the host's copies from the image's root, as before: the initrd picks the root).
Prints the image size, build time and boot times.

Slow: minutes under emulation. Not part of `make test`. Run as root (mmdebstrap, mkfs -d owners).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROAMLINE = [sys.executable, "-P", "-m", "roamline.cli.main"]
T0 = time.monotonic()


def say(text: str) -> None:
    print(f"image-test [{time.monotonic() - T0:6.0f} s] {text}", flush=True)


def fail(text: str) -> None:
    say(f"FAILED: {text}")
    raise SystemExit(1)


def run(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    done: subprocess.CompletedProcess[str] = subprocess.run(  # type: ignore[call-overload]
        argv, capture_output=True, text=True, **kw)
    if done.returncode != 0:
        fail(f"{' '.join(argv[:6])}…: exit {done.returncode}: {done.stderr.strip()[-800:]}")
    return done


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


class Watch:
    """Lines of a process's output, kept and matched as they come."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path, echo: tuple[str, ...] = ()) -> None:
        self.lines: list[str] = []
        self.cond = threading.Condition()
        self.echo = echo
        self.ended = False  # the process's output ended (a guest that rebooted: qemu -no-reboot exits)
        self.log = log.open("w", encoding="utf-8")
        assert proc.stdout is not None
        threading.Thread(target=self._read, args=(proc.stdout,), daemon=True).start()

    def _read(self, stream: object) -> None:
        for raw in iter(stream.readline, b""):  # type: ignore[attr-defined]
            line = raw.decode(errors="replace").rstrip("\r\n")
            self.log.write(line + "\n")
            self.log.flush()
            if any(e in line for e in self.echo):
                say("  | " + re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", line)[:160])
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.ended = True
            self.cond.notify_all()

    def wait_for(self, pattern: str, timeout: float, what: str = "", stop: str | None = None,
                 since: int = 0) -> str | None:
        """The first line (kept from index ``since`` or to come) matching ``pattern``; every 30 s of waiting
        says so. A line matching ``stop`` first ends the wait: the test fails with it."""
        rx = re.compile(pattern)
        stop_rx = re.compile(stop) if stop else None
        start = time.monotonic()
        deadline, beat = start + timeout, start + 30
        seen = since
        with self.cond:
            while True:
                for line in self.lines[seen:]:
                    if rx.search(line):
                        return line
                    if stop_rx is not None and stop_rx.search(line):
                        fail(f"waiting for {what or pattern}: {line.strip()[-300:]}")
                seen = len(self.lines)
                now = time.monotonic()
                if now >= deadline or self.ended:
                    return None
                if what and now >= beat:
                    beat = now + 30
                    last = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", self.lines[-1] if self.lines else "")
                    last = last.strip()[:100]
                    say(f"   waiting for {what}: {now - start:.0f} s (console: {last})")
                self.cond.wait(min(deadline - now, 5))


# console lines that end the boot test at once: nothing good comes after them
STOP = (r"Kernel panic|roamline-update-boot: box update boot failed|roamline-firstboot: .* missing|"
        r"roamline-update-media: .*(refused|cannot mount)|internal error \(a bug\)|"
        r"Failed to start roamline|Giving up waiting for root|ALERT! .* does not exist")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=None, help="keep everything here (default: a temp dir)")
    ap.add_argument("--boot-timeout", type=float, default=1500.0, help="seconds for the guest to link up")
    ap.add_argument("--memory", default="1536", help="guest MiB")
    ap.add_argument("--no-update", action="store_true",
                    help="only the first boot: no signed update applied in the guest")
    ap.add_argument("--no-root-update", action="store_true", help="no whole-root updates in the guest")
    ap.add_argument("--no-app-update", action="store_true", help="no application-slot updates in the guest")
    args = ap.parse_args()
    for tool in ("qemu-system-aarch64", "mmdebstrap", "mkfs.ext4", "mcopy", "debugfs"):
        if shutil.which(tool) is None:
            fail(f"{tool} missing: run scripts/bootstrap.sh --image")
    work = args.work or Path(tempfile.mkdtemp(prefix="roamline-image-test-"))
    work.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []

    def stop_all() -> None:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    try:
        # 1. the image
        say("1/7 building the sim board's image from Debian (cached rootfs and wheels are reused)")
        image, keep = work / "box.img", work / "build"
        shutil.rmtree(keep, ignore_errors=True)
        t = time.monotonic()
        proc = subprocess.Popen([*ROAMLINE, "provision", "image", "build", "--board", "sim", "--out",
                                 str(image), "--keep-work", str(keep), "--json"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None and proc.stdout is not None
        for line in proc.stderr:
            say("  " + line.rstrip())
        out = proc.stdout.read()
        if proc.wait() != 0:
            fail("image build failed")
        result = json.loads(out.strip().splitlines()[-1])
        build_s = time.monotonic() - t
        disk_id = result["layout"]["disk_id"]
        on_disk = image.stat().st_blocks * 512
        say(f"image {result['size_bytes'] >> 20} MiB ({on_disk >> 20} MiB allocated), built in "
            f"{build_s:.0f} s, sha256 {result['sha256']}")

        # 2. a registry on this machine, reachable from the guest at 10.0.2.2 (qemu user networking)
        say("2/7 registry: ca init, token, cloud serve --host 0.0.0.0")
        cloud = work / "cloud"
        shutil.rmtree(cloud, ignore_errors=True)
        run([*ROAMLINE, "cloud", "ca", "init", "--data", str(cloud)])
        token = run([*ROAMLINE, "cloud", "token", "issue", "--data", str(cloud), "--kind", "box"]
                    ).stdout.strip()
        port = free_port()
        serve = subprocess.Popen([*ROAMLINE, "--log-level", "info", "cloud", "serve", "--data", str(cloud),
                                  "--host", "0.0.0.0", "--port", str(port)],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        procs.append(serve)
        cloud_log = Watch(serve, work / "cloud.log", echo=("box-hello", "registered", "Error"))
        time.sleep(3)
        if serve.poll() is not None:
            fail(f"cloud serve exited: {(work / 'cloud.log').read_text()[-500:]}")

        # 3. enroll a box (the installer's step), then flash the image with its identity
        say("3/7 enroll a box and flash the image with its identity (provision flash to an image file)")
        bundle = work / "bundle"
        shutil.rmtree(bundle, ignore_errors=True)
        run([*ROAMLINE, "provision", "box", "enroll", "--registry", f"127.0.0.1:{port}", "--ca",
             str(cloud / "ca.pem"), "--token", token, "--out", str(bundle), "--board", "sim",
             "--box-name", "qemu-box"])
        box_id = json.loads((bundle / "enrollment.json").read_text())["box_id"]
        # The installer enrolled through this machine's loopback; the guest sees this machine at
        # 10.0.2.2. The box is told the address it will use (what an installer on another network
        # would type), nothing else in the bundle changes.
        toml = (bundle / "box.toml").read_text()
        (bundle / "box.toml").write_text(re.sub(r'(?m)^host = "127\.0\.0\.1"$', 'host = "10.0.2.2"', toml))
        # the operator's update key: its public half goes to the box with the identity (first boot puts
        # it in /data/update/operator.pem, the key `box update apply` trusts)
        ops = work / "operator"
        shutil.rmtree(ops, ignore_errors=True)
        ops.mkdir()
        run([*ROAMLINE, "provision", "update", "keygen", "--out", str(ops)])
        shutil.copy(ops / "operator.pem", bundle / "operator.pem")
        card = work / "sd.img"
        run([*ROAMLINE, "provision", "flash", str(image), str(card), "--identity", str(bundle), "--quiet"])
        say(f"box {box_id} enrolled, its identity on {card.name}'s boot partition")

        # 4. boot under qemu (TCG), Debian's kernel and initrd from the root slot
        root = keep / "root"
        kernel = root / "boot" / result["kernel"]
        initrd = root / "boot" / result["initrd"]
        # root= is always slot A's, as a boot loader without A/B would give it: the initrd's slot choice
        # (the boot partition's flag files) replaces it; panic=10 reboots a root that cannot start
        append = f"console=ttyAMA0 root=PARTUUID={disk_id}-02 rootfstype=ext4 ro rootwait net.ifnames=0 " \
                 "panic=10 systemd.show_status=1 systemd.status_unit_format=name"
        qemu = ["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a72", "-smp", "2", "-m", args.memory,
                "-nographic", "-no-reboot", "-kernel", str(kernel), "-initrd", str(initrd), "-append", append,
                "-drive", f"file={card},format=raw,if=none,id=sd", "-device", "virtio-blk-device,drive=sd",
                "-netdev", "user,id=net0", "-device", "virtio-net-device,netdev=net0",
                "-object", "rng-random,filename=/dev/urandom,id=rng0",
                "-device", "virtio-rng-device,rng=rng0"]
        marks: dict[str, float] = {}
        boots: list[tuple[subprocess.Popen[bytes], Watch, float]] = []

        def boot(media: Path | None) -> tuple[subprocess.Popen[bytes], Watch, float]:
            n = len(boots) + 1
            argv = list(qemu)
            if media is not None:  # the update disk: a second virtio disk (a field installer's stick)
                argv += ["-drive", f"file={media},format=raw,if=none,id=upd,readonly=on",
                         "-device", "virtio-blk-device,drive=upd"]
            say(f"   boot {n}{' with ' + media.name if media else ''}: " + " ".join(argv[:12]) + " …")
            guest = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
            procs.append(guest)
            console = Watch(guest, work / f"console-{n}.log",
                            echo=("Linux version", "Run /init", "Mounted", "roamline", "Roamline", "FAILED",
                                  "Reached target", "Kernel panic", "login:"))
            boots.append((guest, console, time.monotonic()))
            return boots[-1]

        def expect(steps: tuple[tuple[str, str, float], ...], stop: str = STOP) -> None:
            n = len(boots)
            _, console, t_boot = boots[-1]
            for name, pattern, limit in steps:
                left = max(1.0, limit - (time.monotonic() - t_boot))
                if console.wait_for(pattern, left, name, stop=stop) is None:
                    fail(f"boot {n}: no '{name}' on the console within {limit:.0f} s "
                         f"(see {work / f'console-{n}.log'})")
                key = name if n == 1 else f"{name} (boot {n})"
                marks[key] = time.monotonic() - t_boot
                say(f"   boot {n}: {name}: {marks[key]:.0f} s after qemu started")

        def link_up(since: int) -> None:
            n = len(boots)
            t_boot = boots[-1][2]
            left = max(1.0, args.boot_timeout - (time.monotonic() - t_boot))
            hello = cloud_log.wait_for(rf"box-hello.*{box_id}", left, "the box's hello at the registry",
                                       since=since)
            if hello is None:
                fail(f"boot {n}: the registry saw no verified hello from box {box_id} within "
                     f"{args.boot_timeout:.0f} s (see {work / f'console-{n}.log'}, {work / 'cloud.log'})")
            key = "link up" if n == 1 else f"link up (boot {n})"
            marks[key] = time.monotonic() - t_boot
            say(f"   boot {n}: link up (the registry's box-hello for {box_id}): {marks[key]:.0f} s after "
                "qemu started")

        def rebooted(what: str) -> None:
            n = len(boots)
            guest, _, t_boot = boots[-1]
            try:
                guest.wait(timeout=max(1.0, args.boot_timeout - (time.monotonic() - t_boot)))
            except subprocess.TimeoutExpired:
                fail(f"boot {n}: the guest did not reboot ({what}; see {work / f'console-{n}.log'})")
            key = f"reboot (boot {n})"
            marks[key] = time.monotonic() - t_boot
            say(f"   boot {n}: the guest rebooted ({what}): qemu exited {marks[key]:.0f} s after it started")

        def media_disk(bundle_file: Path) -> Path:
            """A FAT disk labelled ROAMUPD holding the bundle (mkfs.vfat + mcopy: nothing mounted)."""
            disk = work / f"{bundle_file.stem}.media.img"
            disk.unlink(missing_ok=True)
            kib = (bundle_file.stat().st_size >> 10) * 2 + 8192
            run(["mkfs.vfat", "-C", "-n", "ROAMUPD", str(disk), str(kib)])
            run(["mcopy", "-i", str(disk), str(bundle_file), f"::/{bundle_file.name}"],
                env={**os.environ, "MTOOLS_SKIP_CHECK": "1"})
            return disk

        def update_bundle(version: str, health: str, script: bool = False) -> Path:
            """A signed bundle carrying this image's own Roamline package (the factory's dependencies
            follow it on the path) and its health command (``script``: a shell script ./health with that
            text)."""
            app = work / f"app-{version}"
            shutil.rmtree(app, ignore_errors=True)
            shutil.copytree(root / "opt" / "roamline" / "site" / "roamline", app / "site" / "roamline",
                            symlinks=True)
            (app / "VERSION").write_text(version + "\n")
            if script:
                (app / "health").write_text("#!/bin/sh\n" + health + "\n")
                (app / "health").chmod(0o755)
            out = work / f"roamline-{version}.rlu"
            out.unlink(missing_ok=True)
            t = time.monotonic()
            built = json.loads(run([*ROAMLINE, "provision", "update", "build", "--payload", str(app),
                                    "--version", version, "--key", str(ops / "operator.key"), "--health",
                                    "./health" if script else health, "--out", str(out)]
                                   ).stdout.strip().splitlines()[-1])
            say(f"   bundle {out.name}: payload {built['payload_size'] >> 10} KiB, file "
                f"{out.stat().st_size >> 10} KiB, built in {time.monotonic() - t:.1f} s")
            return out

        def root_bundle(version: str, broken: bool) -> Path:
            """A signed whole-root bundle: the image's own root as an ext4 image the size of a root slot
            (its version in /etc/roamline/root-version; ``broken``: its /sbin/init exits at once), and
            its kernel and initrd. The health command is `box health` (the default of a root bundle)."""
            marker = root / "etc" / "roamline" / "root-version"
            init = root / "sbin" / "init"
            saved = init.readlink() if init.is_symlink() else None
            img = work / f"root-{version}.ext4"
            img.unlink(missing_ok=True)
            t = time.monotonic()
            try:
                marker.write_text(version + "\n")
                if broken:
                    init.unlink()
                    init.write_text('#!/bin/sh\necho "roamline-test: root ' + version +
                                    ' has no working init"\nexit 1\n')
                    init.chmod(0o755)
                with open(img, "wb") as f:
                    f.truncate(int(result["layout"]["slots"]["B"]["size_bytes"]))
                run(["mkfs.ext4", "-q", "-F", "-b", "4096", "-L", "rootB", "-m", "0", "-d", str(root),
                     str(img)])
            finally:
                marker.unlink(missing_ok=True)
                if saved is not None:
                    init.unlink(missing_ok=True)
                    init.symlink_to(saved)
            out = work / f"roamline-root-{version}.rlu"
            out.unlink(missing_ok=True)
            built = json.loads(run([*ROAMLINE, "provision", "update", "build", "--root-image", str(img),
                                    "--kernel", str(kernel), "--initrd", str(initrd), "--version", version,
                                    "--key", str(ops / "operator.key"), "--out", str(out)]
                                   ).stdout.strip().splitlines()[-1])
            img.unlink()
            slot_mib = int(result["layout"]["slots"]["B"]["size_bytes"]) >> 20
            say(f"   root bundle {out.name}{' (broken init)' if broken else ''}: root image {slot_mib} MiB, "
                f"bundle {built['payload_size'] >> 20} MiB, built in {time.monotonic() - t:.0f} s")
            return out

        # the bundles' health check: the running firmware's own state (link up, peripherals), as the
        # service publishes it; ROAMLINE_SLOT (set by `box update health`) must be the slot it runs from
        good_health = "roamline box health --config /etc/roamline/box.toml --source service --timeout 120"
        bad_health = 'echo "health: registry link down (a deliberately failing bundle)" >&2; exit 3'
        app_updates = not args.no_update and not args.no_app_update
        root_updates = not args.no_update and not args.no_root_update
        media1 = media_root1 = None
        if app_updates:
            say("   signed update bundles (provision update build, the operator key) on ROAMUPD disks")
            media1 = media_disk(update_bundle("2.0", good_health))
        if root_updates:
            say("   signed whole-root bundles (provision update build --root-image) on ROAMUPD disks")
            media_root1 = media_disk(root_bundle("2.0", broken=False))

        first_media = media_root1 or media1
        say("4/7 booting under qemu-system-aarch64 (virt, TCG)" +
            (f"; the update disk {first_media.name} attached" if first_media else ""))
        boot(first_media)
        expect((
            ("kernel", r"Linux version", 300),
            ("userspace", r"systemd\[1\]: |Welcome to", args.boot_timeout),
            # status lines name units (systemd.status_unit_format=name): descriptions are cut to the
            # console's width
            ("first boot", r"roamline-firstboot: identity taken|Finished roamline-firstboot\.service",
             args.boot_timeout),
            ("update slot chosen", r'roamline-update-boot: \{"booted": "a".*runs from /opt/roamline/site',
             args.boot_timeout),
            # once a getty holds the console systemd may stop printing status lines: the firmware's
            # own first state line (journal+console) says it runs
            ("firmware started",
             r'Started roamline-box\.service|roamline\[\d+\]: .*"state": "(running|ready)"',
             args.boot_timeout),
            ("update health unit", r"roamline-update-health: no slot on trial", args.boot_timeout),
        ))
        link_up(0)

        if root_updates:
            say("5/7 root update 2.0: written to root slot B in the guest, trial boot of B, health "
                "committed it")
            expect((("root update applied",
                     r'roamline-update-media: applied roamline-root-2\.0\.rlu: .*"installed": "B", '
                     r'"kind": "root"',
                     args.boot_timeout),))
            rebooted("into the root update's trial")
            media_root2 = media_disk(root_bundle("3.0", broken=True))
            seen = len(cloud_log.lines)
            boot(media_root2)
            expect((
                ("initrd chose root B on trial", r"roamline-slot: root slot B \(trial\)", args.boot_timeout),
                ("update boot saw the root trial",
                 r'roamline-update-boot: .*"root_slot": "B", "root_mode": "trial", "root_state": "trying", '
                 r'"root_version": "2\.0"', args.boot_timeout),
                ("firmware started",
                 r'Started roamline-box\.service|roamline\[\d+\]: .*"state": "(running|ready)"',
                 args.boot_timeout),
                ("box health committed root B", r'"root_slot": "B", "healthy": true, "committed": "B"',
                 args.boot_timeout),
            ))
            link_up(seen)
            say("   root update 3.0 (its init is broken): written to root slot A, its trial boot panics, "
                "the next boot is B's")
            expect((("root update applied",
                     r'roamline-update-media: applied roamline-root-3\.0\.rlu: .*"installed": "A", '
                     r'"kind": "root"',
                     args.boot_timeout),))
            rebooted("into the broken root's trial")
            boot(None)
            panic_stop = r"roamline-update-boot: box update boot failed|Giving up waiting for root"
            expect((
                ("initrd chose root A on trial", r"roamline-slot: root slot A \(trial\)", args.boot_timeout),
                ("the broken root failed", r"roamline-test: root 3\.0 has no working init|Kernel panic",
                 args.boot_timeout),
            ), stop=panic_stop)
            rebooted("the kernel's panic=10 (no health check ever ran)")
            seen = len(cloud_log.lines)
            boot(media1)
            expect((
                ("initrd chose the committed root B", r"roamline-slot: root slot B \(committed\)",
                 args.boot_timeout),
                ("fell back to root B",
                 r'roamline-update-boot: .*"root_slot": "B", "root_mode": "committed", "root_state": "good", '
                 r'"root_version": "2\.0", "root_committed": "B"', args.boot_timeout),
                ("firmware started",
                 r'Started roamline-box\.service|roamline\[\d+\]: .*"state": "(running|ready)"',
                 args.boot_timeout),
            ))
            link_up(seen)

        if app_updates:
            say("5/7 update 2.0: applied from the update disk, reboot, trial boot of slot b, health kept it")
            expect((("update applied",
                     r'roamline-update-media: applied roamline-2\.0\.rlu: .*"installed": "b"',
                     args.boot_timeout),))
            rebooted("into the update")
            media2 = media_disk(update_bundle("3.0", bad_health, script=True))
            seen = len(cloud_log.lines)
            boot(media2)
            expect((
                ("update slot chosen",
                 r'roamline-update-boot: \{"booted": "b", "slot_state": "trying", "version": "2\.0".*'
                 r'runs from /data/update/slots/b/site', args.boot_timeout),
                ("firmware started",
                 r'Started roamline-box\.service|roamline\[\d+\]: .*"state": "(running|ready)"',
                 args.boot_timeout),
                ("health check kept it", r'"slot": "b", "healthy": true, "primary": "b"', args.boot_timeout),
            ))
            link_up(seen)

            say("6/7 update 3.0 (its health check fails): applied, trial boot of slot a, rolled back to b")
            expect((("update applied",
                     r'roamline-update-media: applied roamline-3\.0\.rlu: .*"installed": "a"',
                     args.boot_timeout),))
            rebooted("into the update")
            boot(None)
            # the health unit failing is what this boot is for: not a fatal line here
            trial_stop = (r"Kernel panic|roamline-update-boot: box update boot failed|"
                          r"Giving up waiting for root")
            expect((
                ("update slot chosen",
                 r'roamline-update-boot: \{"booted": "a", "slot_state": "trying", "version": "3\.0".*'
                 r'runs from /data/update/slots/a/site', args.boot_timeout),
                ("health check failed", r'"slot": "a", "healthy": false', args.boot_timeout),
            ), stop=trial_stop)
            rebooted("the health unit's FailureAction=reboot")
            seen = len(cloud_log.lines)
            boot(None)
            expect((
                ("rolled back",
                 r'roamline-update-boot: \{"booted": "b", "slot_state": "good", "version": "2\.0".*'
                 r'runs from /data/update/slots/b/site', args.boot_timeout),
                ("firmware started",
                 r'Started roamline-box\.service|roamline\[\d+\]: .*"state": "(running|ready)"',
                 args.boot_timeout),
                ("update health unit", r"roamline-update-health: no slot on trial", args.boot_timeout),
            ))
            link_up(seen)

        # 7. figures
        report = {"image_bytes": result["size_bytes"], "image_allocated_bytes": on_disk,
                  "build_s": round(build_s, 1), **{f"boot_{re.sub(r'[^a-z0-9]+', '_', k).strip('_')}_s":
                                                   round(v, 1) for k, v in marks.items()}}
        say("7/7 PASSED: first boot took the identity, the firmware service started, its link reached "
            "the registry" + ("" if not root_updates else
                              "; root update 2.0 written to root slot B in the guest, tried once and "
                              "committed by box health (link up again); root update 3.0 (broken init) "
                              "panicked in its trial and the next boot was B's (link up again)")
            + ("" if not app_updates else
               "; update 2.0 applied in the guest, tried and kept (link up again); "
               "update 3.0 failed its health check and was rolled back (link up again)"))
        print(json.dumps(report), flush=True)
        return 0
    finally:
        stop_all()
        if args.work is None and os.environ.get("KEEP") != "1":
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
