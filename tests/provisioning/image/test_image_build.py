"""`roamline provision image build` end to end on a tiny root (seconds): the partition table, the FAT
boot partition (mtools), the root slots and data partition (debugfs), units, fstab, first boot."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from roamline.provisioning import bootinject, image_plan
from roamline.provisioning.mbr import boot_partition, parse_mbr

from .conftest import KVER, debugfs, mdir, mtype, need, partition_file, sfdisk_json, tiny_site, tiny_tar


def build(tmp: Path, *extra: str, board: str = "pi4") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-P", "-m", "roamline.cli.main", "provision", "image", "build",
                           "--board", board, "--out", str(tmp / "box.img"), "--boot-mib", "32",
                           "--data-mib", "16", "--cache", str(tmp / "cache"), "--json", *extra],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    need("mkfs.ext4", "debugfs", "mkfs.vfat", "mcopy", "sfdisk")
    tmp = tmp_path_factory.mktemp("image")
    done = build(tmp, "--rootfs-tar", str(tiny_tar(tmp)), "--site", str(tiny_site(tmp)))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return tmp / "box.img", {"result": result, "stderr": done.stderr}


def test_progress_and_digest(built: tuple[Path, dict]) -> None:
    image, info = built
    steps = [line for line in info["stderr"].splitlines() if "] " in line and line.startswith("image: [")]
    assert [s.split("]")[0] for s in steps] == [f"image: [{i}/7" for i in range(1, 8)]
    assert "assemble 100%" in info["stderr"] and "sha256 100%" in info["stderr"]
    assert info["result"]["sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()
    assert info["result"]["size_bytes"] == image.stat().st_size


def test_partition_table(built: tuple[Path, dict]) -> None:
    image, info = built
    table = sfdisk_json(image)
    assert table["label"] == "dos"
    disk_id = info["result"]["layout"]["disk_id"]
    assert table["id"] == f"0x{disk_id}"
    parts = table["partitions"]
    assert [p["type"] for p in parts] == ["e", "83", "83", "83"]  # FAT16 below 256 MiB
    assert parts[0].get("bootable") is True
    assert all(p["start"] % 8192 == 0 for p in parts)  # 4 MiB aligned
    assert parts[1]["size"] == parts[2]["size"]  # the two slots hold the same
    end = parts[-1]["start"] + parts[-1]["size"]
    assert end * 512 == image.stat().st_size


def test_boot_partition(built: tuple[Path, dict]) -> None:
    image, info = built
    boot = boot_partition(parse_mbr(image.read_bytes()[:512]), image.stat().st_size)
    names = mdir(image, boot.offset)
    for want in ("config.txt", "cmdline.txt", f"vmlinuz-{KVER}", f"initrd.img-{KVER}", "start4.elf",
                 "fixup4.dat", "bcm2711-rpi-4-b.dtb", "bcm2711-rpi-400.dtb"):
        assert want in names, names
    assert "bcm2837-rpi-3-b.dtb" not in names  # only this board's device trees
    assert mtype(image, boot.offset, f"vmlinuz-{KVER}") == b"KERNEL" * 100
    cmd = mtype(image, boot.offset, "cmdline.txt").decode()
    disk_id = info["result"]["layout"]["disk_id"]
    assert f"root=PARTUUID={disk_id}-02" in cmd and " ro " in cmd
    cfg = mtype(image, boot.offset, "config.txt").decode()
    assert f"kernel=vmlinuz-{KVER}" in cfg and f"initramfs initrd.img-{KVER} followkernel" in cfg
    assert "arm_64bit=1" in cfg


def _slot(image: Path, tmp: Path, number: int) -> Path:
    p = parse_mbr(image.read_bytes()[:512])[number - 1]
    return partition_file(image, p.offset, p.size, tmp / f"p{number}.ext4")


def test_root_slot_a(built: tuple[Path, dict], tmp_path: Path) -> None:
    image, info = built
    fs = _slot(image, tmp_path, 2)
    assert "Filesystem volume name:   rootA" in subprocess.run(
        ["dumpe2fs", "-h", str(fs)], capture_output=True, text=True, check=True).stdout
    fstab = debugfs(fs, "cat /etc/fstab")
    rows = {r.split()[1]: r.split() for r in fstab.splitlines() if r.strip() and not r.startswith("#")}
    assert rows["/"][3].split(",")[0] == "ro"
    assert rows["/data"][0] == "LABEL=roamdata" and "rw" in rows["/data"][3].split(",")
    assert rows["/boot/firmware"][0] == "LABEL=ROAMBOOT" and rows["/boot/firmware"][2] == "vfat"
    assert rows["/var/log"][2] == "tmpfs" and rows["/tmp"][2] == "tmpfs"
    unit = debugfs(fs, "cat /etc/systemd/system/roamline-box.service")
    assert "ExecStart=/usr/local/bin/roamline box run --config /data/box.toml" in unit
    assert "pcscd.socket" in unit and "gpsd.socket" in unit and "Restart=always" in unit
    first = debugfs(fs, "cat /etc/systemd/system/roamline-firstboot.service")
    assert "ConditionPathExists=/boot/firmware/roamline/box.toml" in first
    assert "ExecStart=/usr/local/sbin/roamline-firstboot" in first
    for link, target in (("multi-user.target.wants/roamline-box.service",
                          "/etc/systemd/system/roamline-box.service"),
                         ("multi-user.target.wants/roamline-firstboot.service",
                          "/etc/systemd/system/roamline-firstboot.service"),
                         ("sockets.target.wants/pcscd.socket", "/lib/systemd/system/pcscd.socket"),
                         ("sockets.target.wants/gpsd.socket", "/lib/systemd/system/gpsd.socket"),
                         ("multi-user.target.wants/systemd-networkd.service",
                          "/lib/systemd/system/systemd-networkd.service")):
        st = debugfs(fs, f"stat /etc/systemd/system/{link}")
        assert "Type: symlink" in st and f'Fast link dest: "{target}"' in st, (link, st)
    launcher = debugfs(fs, "stat /usr/local/bin/roamline")
    assert "Mode:  0755" in launcher and "User:     0" in launcher
    assert "PYTHONPATH=/opt/roamline/site" in debugfs(fs, "cat /usr/local/bin/roamline")
    assert "Name: roamline" in debugfs(fs, "cat /opt/roamline/site/roamline-0.1.0.dist-info/METADATA")
    record = json.loads(debugfs(fs, "cat /etc/roamline/image.json"))
    assert record["slots"]["A"]["partuuid"] == f"{info['result']['layout']['disk_id']}-02"
    assert record["slots"]["B"]["number"] == 3 and record["data"]["label"] == "roamdata"
    assert record["board"] == "pi4-ag1171" and record["source"] == "debian"
    assert debugfs(fs, "cat /etc/machine-id") == ""  # systemd makes one per boot on the read-only root
    assert "data" in debugfs(fs, "ls -l /") and "firmware" in debugfs(fs, "ls -l /boot")


def test_slot_b_and_data_are_empty_filesystems(built: tuple[Path, dict], tmp_path: Path) -> None:
    image, _ = built
    for number, label in ((3, "rootB"), (4, "roamdata")):
        fs = _slot(image, tmp_path, number)
        head = subprocess.run(["dumpe2fs", "-h", str(fs)], capture_output=True, text=True, check=True).stdout
        assert f"Filesystem volume name:   {label}" in head
        names = [n for n in debugfs(fs, "ls -p /").splitlines() if n.strip()]
        assert sorted(n.split("/")[5] for n in names) == [".", "..", "lost+found"]


def test_identity_injected_then_taken_by_first_boot(built: tuple[Path, dict], tmp_path: Path) -> None:
    """`provision flash`'s injection lands where first boot looks; the first-boot script (the one on the
    image) moves it to /data and takes the key off the FAT partition."""
    from tests.provisioning.flash.conftest import make_bundle

    image, _ = built
    copy = tmp_path / "copy.img"
    copy.write_bytes(image.read_bytes())
    boot = boot_partition(parse_mbr(copy.read_bytes()[:512]), copy.stat().st_size)
    directory = make_bundle(tmp_path / "bundle")
    # the operator's update key goes with the identity (optional): first boot makes it the trusted key
    from roamline.provisioning.update_bundle import write_operator_key

    (tmp_path / "ops").mkdir()
    _, public = write_operator_key(tmp_path / "ops")
    (directory / "operator.pem").write_bytes(public.read_bytes())
    bundle = bootinject.load_bundle(directory)
    bootinject.inject(str(copy), boot, bundle)
    names = (*bootinject.BUNDLE_FILES, *bootinject.OPTIONAL_FILES)
    assert mdir(copy, boot.offset, image_plan.BOOT_DIR) == sorted(names)
    script = debugfs(_slot(image, tmp_path, 2), "cat /usr/local/sbin/roamline-firstboot")
    fat, data = tmp_path / "fat", tmp_path / "data"
    (fat / "roamline").mkdir(parents=True)
    data.mkdir()
    for name in names:
        (fat / "roamline" / name).write_bytes(mtype(copy, boot.offset, f"roamline/{name}"))
    (tmp_path / "firstboot").write_text(script)
    env = {**os.environ, "ROAMLINE_BOOT": str(fat), "ROAMLINE_DATA": str(data)}
    done = subprocess.run(["sh", str(tmp_path / "firstboot")], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    files = dict(bundle.files)
    for name in bootinject.BUNDLE_FILES:
        assert (data / name).read_bytes() == files[name]
    assert (data / "box.key").stat().st_mode & 0o777 == 0o600
    assert (data / "update" / "operator.pem").read_bytes() == public.read_bytes()
    assert not (fat / "roamline" / "box.key").exists()
    assert (fat / "roamline" / "box.toml").exists()
    from roamline.firmware.config import load_box_config

    assert load_box_config(data / "box.toml").resolved(data).identity.key == data / "box.key"


def test_first_boot_refuses_an_incomplete_bundle(tmp_path: Path, built: tuple[Path, dict]) -> None:
    image, _ = built
    script = debugfs(_slot(image, tmp_path, 2), "cat /usr/local/sbin/roamline-firstboot")
    fat, data = tmp_path / "fat", tmp_path / "data"
    (fat / "roamline").mkdir(parents=True)
    data.mkdir()
    (fat / "roamline" / "box.toml").write_text("name = 'x'\n")
    (tmp_path / "firstboot").write_text(script)
    env = {**os.environ, "ROAMLINE_BOOT": str(fat), "ROAMLINE_DATA": str(data)}
    done = subprocess.run(["sh", str(tmp_path / "firstboot")], env=env, capture_output=True, text=True)
    assert done.returncode == 1 and "box.key missing" in done.stderr
    assert list(data.iterdir()) == []  # nothing half-taken


def test_board_without_a_device_tree_is_refused(tmp_path: Path) -> None:
    """Debian's kernel lacking a board's device tree (the Pi 5 on bookworm's 6.1) is a clear refusal."""
    done = build(tmp_path, "--rootfs-tar", str(tiny_tar(tmp_path)), "--site", str(tiny_site(tmp_path)),
                 board="pi5")
    assert done.returncode == 2, done.stderr
    assert "no device tree bcm2712-rpi-5-b.dtb" in done.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "box.img").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".roamline-image-")]


def _image_script(image: Path, tmp: Path, rel: str) -> Path:
    out = tmp / Path(rel).name
    out.write_text(debugfs(_slot(image, tmp, 2), f"cat /{rel}"))
    return out


def test_update_units_run_boot_before_the_firmware_and_health_after(built: tuple[Path, dict],
                                                                    tmp_path: Path) -> None:
    image, _ = built
    fs = _slot(image, tmp_path, 2)
    boot = debugfs(fs, "cat /etc/systemd/system/roamline-update-boot.service")
    assert "Before=roamline-box.service" in boot and "After=roamline-firstboot.service" in boot
    assert "ExecStart=/usr/local/sbin/roamline-update-boot" in boot
    health = debugfs(fs, "cat /etc/systemd/system/roamline-update-health.service")
    assert "After=roamline-box.service" in health and "FailureAction=reboot" in health
    unit = debugfs(fs, "cat /etc/systemd/system/roamline-box.service")
    wants = next(line for line in unit.splitlines() if line.startswith("Wants="))
    assert "roamline-update-boot.service" in wants  # Wants, not Requires: an update never blocks the box
    assert "Requires=" not in unit.replace("RequiresMountsFor", "")
    for name in ("roamline-update-boot.service", "roamline-update-health.service"):
        st = debugfs(fs, f"stat /etc/systemd/system/multi-user.target.wants/{name}")
        assert f'Fast link dest: "/etc/systemd/system/{name}"' in st
    for rel in ("usr/local/sbin/roamline-update-boot", "usr/local/sbin/roamline-update-health",
                "usr/local/sbin/roamline-update-media"):
        assert "Mode:  0755" in debugfs(fs, f"stat /{rel}")
    # the update disk's unit starts when a ROAMUPD filesystem appears, after the boot choice and health
    media = debugfs(fs, "cat /etc/systemd/system/roamline-update-media.service")
    assert "BindsTo=dev-disk-by\\x2dlabel-ROAMUPD.device" in media
    assert "After=roamline-update-health.service" in media
    def inode(directory: str, name: str) -> str:  # by inode: debugfs does not take a backslash in a path
        rows = [row.strip("/").split("/") for row in debugfs(fs, f"ls -p {directory}").split()]
        return next(f"<{row[0]}>" for row in rows if len(row) > 4 and row[4] == name)

    wants = inode("/etc/systemd/system", "dev-disk-by\\x2dlabel-ROAMUPD.device.wants")
    st = debugfs(fs, f"stat {inode(wants, 'roamline-update-media.service')}")
    assert 'Fast link dest: "/etc/systemd/system/roamline-update-media.service"' in st


def test_update_media_script_applies_a_bundle_once_and_reboots(built: tuple[Path, dict],
                                                               tmp_path: Path) -> None:
    """The image's update-disk script on directories (mount/umount/systemctl replaced by the
    environment): the newest bundle is applied with the operator key and the box reboots; the same
    bundle again does nothing; a bundle signed by another key is refused and nothing is recorded."""
    image, _ = built
    media_sh = _image_script(image, tmp_path, "usr/local/sbin/roamline-update-media")
    roamline = [sys.executable, "-P", "-m", "roamline.cli.main"]
    state, mnt = tmp_path / "update", tmp_path / "media"
    mnt.mkdir()
    env = {**os.environ, "ROAMLINE_UPDATE_STATE": str(state), "ROAMLINE_MEDIA_MNT": str(mnt),
           "ROAMLINE_CMD": " ".join(roamline), "ROAMLINE_MOUNT": "true", "ROAMLINE_UMOUNT": "true",
           "ROAMLINE_SYSTEMCTL": "echo systemctl"}

    def sh() -> subprocess.CompletedProcess[str]:
        return subprocess.run(["sh", str(media_sh), "/dev/null"], env=env, capture_output=True, text=True,
                              timeout=60)

    def cmd(*argv: str) -> None:
        done = subprocess.run([*roamline, *argv], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr

    for ops in ("ops", "other"):
        (tmp_path / ops).mkdir()
        cmd("provision", "update", "keygen", "--out", str(tmp_path / ops))
    state.mkdir()
    (state / "operator.pem").write_bytes((tmp_path / "ops" / "operator.pem").read_bytes())

    def bundle(version: str, key: str) -> Path:
        app = tmp_path / f"app-{version}"
        (app / "site" / "roamline").mkdir(parents=True)
        (app / "health").write_text("#!/bin/sh\nexit 0\n")
        out = mnt / f"roamline-{version}.rlu"
        cmd("provision", "update", "build", "--payload", str(app), "--version", version, "--key",
            str(tmp_path / key / "operator.key"), "--health", "./health", "--out", str(out))
        return out

    done = sh()
    assert done.returncode == 0 and "no *.rlu bundle" in done.stdout
    bundle("2.0", "ops")
    done = sh()
    assert done.returncode == 0, done.stderr
    assert '"installed": "b"' in done.stdout and "systemctl --no-block reboot" in done.stdout
    assert json.loads((state / "bootstate.json").read_text())["versions"]["b"] == "2.0"
    assert len(list((state / "applied").iterdir())) == 1
    done = sh()  # the stick left in: nothing applied again, no reboot
    assert done.returncode == 0 and "applied before" in done.stdout and "reboot" not in done.stdout
    bundle("3.0", "other")  # newest, signed by a key the box does not trust
    done = sh()
    assert done.returncode == 1 and "refused" in done.stderr and "reboot" not in done.stdout
    assert len(list((state / "applied").iterdir())) == 1
    assert "3.0" not in json.loads((state / "bootstate.json").read_text())["versions"].values()


def test_update_scripts_pick_the_slot_and_roll_a_bad_one_back(built: tuple[Path, dict],
                                                              tmp_path: Path) -> None:
    """The image's own boot and health scripts, driving the real `box update` commands on a state
    directory: a fresh box runs the factory install; an applied update runs from its slot once, is kept
    when healthy; an unhealthy one fails the health unit and the next boot is back on the good slot."""
    image, _ = built
    boot_sh = _image_script(image, tmp_path, "usr/local/sbin/roamline-update-boot")
    health_sh = _image_script(image, tmp_path, "usr/local/sbin/roamline-update-health")
    launcher = _image_script(image, tmp_path, "usr/local/bin/roamline")
    roamline = [sys.executable, "-P", "-m", "roamline.cli.main"]
    factory, state, run = tmp_path / "factory", tmp_path / "update", tmp_path / "run"
    (factory / "roamline").mkdir(parents=True)
    env = {**os.environ, "ROAMLINE_UPDATE_STATE": str(state), "ROAMLINE_RUN": str(run),
           "ROAMLINE_FACTORY_SITE": str(factory), "ROAMLINE_CMD": " ".join(roamline)}

    def sh(script: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=60)

    def cmd(*argv: str) -> None:
        done = subprocess.run([*roamline, *argv], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr

    def bundle(version: str, health: str) -> Path:
        app = tmp_path / f"app-{version}"
        (app / "site" / "roamline").mkdir(parents=True)
        (app / "site" / "roamline" / "VERSION").write_text(version)
        (app / "health").write_text(f"#!/bin/sh\n{health}\n")
        (app / "health").chmod(0o755)
        out = tmp_path / f"{version}.rlu"
        cmd("provision", "update", "build", "--payload", str(app), "--version", version, "--key",
            str(tmp_path / "ops" / "operator.key"), "--health", "./health", "--out", str(out))
        return out

    (tmp_path / "ops").mkdir()
    cmd("provision", "update", "keygen", "--out", str(tmp_path / "ops"))
    # a fresh box (no /data/update yet): slot a, the factory install in the root, nothing on trial
    done = sh(boot_sh)
    assert done.returncode == 0, done.stderr
    assert json.loads((run / "boot.json").read_text())["booted"] == "a"
    assert (run / "site").resolve() == factory.resolve()
    (state / "operator.pem").write_bytes((tmp_path / "ops" / "operator.pem").read_bytes())
    done = sh(health_sh)
    assert done.returncode == 0 and "nothing to check" in done.stdout
    # the launcher runs the firmware from the chosen site
    probe = subprocess.run(["sh", "-c", f"sed 's|^exec .*|echo $PYTHONPATH|' {launcher} | sh"], env=env,
                           capture_output=True, text=True, check=True)
    # an update slot may carry only Roamline: the factory dependency tree follows it on the path
    assert probe.stdout.strip() == f"{run / 'site'}:/opt/roamline/site"
    # a healthy update: slot b on trial at the next boot, kept by the health unit
    cmd("box", "update", "apply", str(bundle("2.0", "exit 0")), "--state", str(state))
    assert sh(boot_sh).returncode == 0
    assert json.loads((run / "boot.json").read_text())["slot_state"] == "trying"
    assert ((run / "site") / "roamline" / "VERSION").read_text() == "2.0"
    done = sh(health_sh)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["primary"] == "b"
    # an unhealthy update: its health check fails the unit (FailureAction=reboot), then rolled back
    cmd("box", "update", "apply", str(bundle("3.0", "echo link down >&2; exit 3")), "--state", str(state))
    assert sh(boot_sh).returncode == 0
    assert ((run / "site") / "roamline" / "VERSION").read_text() == "3.0"
    done = sh(health_sh)
    assert done.returncode == 1 and "link down" in done.stderr
    assert sh(boot_sh).returncode == 0
    assert json.loads((run / "boot.json").read_text())["booted"] == "b"
    assert ((run / "site") / "roamline" / "VERSION").read_text() == "2.0"
    # a boot state that cannot be read: the firmware still starts, from the factory install
    (state / "bootstate.json").write_text("{not json")
    done = sh(boot_sh)
    assert done.returncode == 1 and "factory install" in done.stderr
    assert (run / "site").resolve() == factory.resolve()


def test_pi3_image_has_its_firmware_and_device_trees(tmp_path: Path) -> None:
    """The Pi 3 profile builds: the older firmware (bootcode.bin, start.elf) and bcm2837 device trees."""
    done = build(tmp_path, "--rootfs-tar", str(tiny_tar(tmp_path)), "--site", str(tiny_site(tmp_path)),
                 board="pi3")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["board"] == "pi3-ag1171"
    image = tmp_path / "box.img"
    boot = boot_partition(parse_mbr(image.read_bytes()[:512]), image.stat().st_size)
    names = mdir(image, boot.offset)
    for want in ("bootcode.bin", "start.elf", "fixup.dat", "bcm2837-rpi-3-b.dtb", "config.txt"):
        assert want in names, names
    assert "bcm2711-rpi-4-b.dtb" not in names
    assert "arm_64bit=1" in mtype(image, boot.offset, "config.txt").decode()


def test_root_update_through_the_images_own_scripts(built: tuple[Path, dict], tmp_path: Path) -> None:
    """A whole-root bundle on the update disk, through the image's media script (on directories: the
    image's own record, its boot partition and root partitions as files): written to partition 3, the
    Pi's trial armed (tryboot.txt) and the reboot asked with the firmware's "0 tryboot"; the health script
    runs the check for a root slot on trial; /etc/roamline/box.toml is where bundles' `box health` looks."""
    image, _ = built
    fs = _slot(image, tmp_path, 2)
    st = debugfs(fs, "stat /etc/roamline/box.toml")
    assert "Type: symlink" in st and 'Fast link dest: "/data/box.toml"' in st
    record = json.loads(debugfs(fs, "cat /etc/roamline/image.json"))
    (tmp_path / "image.json").write_text(json.dumps(record))
    media_sh = _image_script(image, tmp_path, "usr/local/sbin/roamline-update-media")
    health_sh = _image_script(image, tmp_path, "usr/local/sbin/roamline-update-health")
    roamline = [sys.executable, "-P", "-m", "roamline.cli.main"]
    state, mnt, boot, dev, top = (tmp_path / d for d in ("update", "media", "boot", "dev", "sys"))
    for d in (state, mnt, boot, dev, top / "proc"):
        d.mkdir(parents=True)
    disk = record["disk_id"]
    for s in ("A", "B"):
        with open(dev / record["slots"][s]["partuuid"], "wb") as f:
            f.truncate(record["slots"][s]["size_bytes"])
    (boot / "config.txt").write_text(image_plan.config_txt("vmlinuz-1", "initrd.img-1"))
    cmdline = f"console=tty1 root=PARTUUID={disk}-02 rootfstype=ext4 ro\n"
    (boot / "cmdline.txt").write_text(cmdline)
    (top / "proc" / "cmdline").write_text(cmdline)

    def cmd(*argv: str) -> None:
        done = subprocess.run([*roamline, *argv], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr

    cmd("provision", "update", "keygen", "--out", str(tmp_path))
    (state / "operator.pem").write_bytes((tmp_path / "operator.pem").read_bytes())
    rootfs = tmp_path / "rootfs.img"
    rootfs.write_bytes(os.urandom(1 << 20))
    (tmp_path / "vmlinuz-2").write_bytes(b"k")
    (tmp_path / "initrd.img-2").write_bytes(b"i")
    cmd("provision", "update", "build", "--root-image", str(rootfs), "--kernel", str(tmp_path / "vmlinuz-2"),
        "--initrd", str(tmp_path / "initrd.img-2"), "--version", "2.0", "--key",
        str(tmp_path / "operator.key"), "--out", str(mnt / "roamline-root-2.0.rlu"))
    opts = f"--image-json {tmp_path / 'image.json'} --boot-dir {boot} --dev-dir {dev} --sys-root {top}"
    env = {**os.environ, "ROAMLINE_UPDATE_STATE": str(state), "ROAMLINE_MEDIA_MNT": str(mnt),
           "ROAMLINE_CMD": " ".join(roamline), "ROAMLINE_MOUNT": "true", "ROAMLINE_UMOUNT": "true",
           "ROAMLINE_SYSTEMCTL": "echo systemctl", "ROAMLINE_APPLY_OPTS": opts}
    done = subprocess.run(["sh", str(media_sh), "/dev/null"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert '"installed": "B", "kind": "root"' in done.stdout
    assert done.stdout.rstrip().endswith("systemctl --no-block reboot 0 tryboot")  # the Pi's one-shot flag
    with open(dev / record["slots"]["B"]["partuuid"], "rb") as f:
        assert f.read(1 << 20) == rootfs.read_bytes()
    assert "cmdline=slot-b/cmdline.txt" in (boot / "tryboot.txt").read_text()
    # the health script: a root slot on trial is checked, nothing on trial is not
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    henv = {**os.environ, "ROAMLINE_RUN": str(run_dir), "ROAMLINE_UPDATE_STATE": str(state),
            "ROAMLINE_CMD": "echo roamline"}
    for body, expect in (('{"booted": "a", "slot_state": "good", "root_slot": "B", "root_state": "trying"}',
                          "roamline box update health"),
                         ('{"booted": "a", "slot_state": "good", "root_slot": "B", "root_state": "good"}',
                          "no slot on trial")):
        (run_dir / "boot.json").write_text(body)
        out = subprocess.run(["sh", str(health_sh)], env=henv, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and expect in out.stdout, out
