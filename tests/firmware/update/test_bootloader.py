"""Boot-loader backends: their effects on a boot partition (a directory here) and what they read back.
The initrd-flag backend is checked against the image's own initrd script (run by dash on directories),
the way the qemu guest's initramfs runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from roamline.firmware.errors import PeerError
from roamline.firmware.update.bootloader import (
    FlagFileLoader,
    SlotFiles,
    TrybootLoader,
    for_backend,
    slot_of_cmdline,
    with_root,
)
from roamline.firmware.update.rootslot import ArmTrial, Booted, Commit, Disarm
from roamline.provisioning import image_plan
from roamline.provisioning.image_build import (
    INITRD_MODULES,
    INITRD_SLOT_PATH,
    INITRD_SLOT_SCRIPT,
    rootfs_hooks,
)

DISK = "5eed0001"
CONFIG = image_plan.config_txt("vmlinuz-6.1.0-50-arm64", "initrd.img-6.1.0-50-arm64")
CMDLINE = f"console=serial0,115200 console=tty1 root=PARTUUID={DISK}-02 rootfstype=ext4 ro rootwait\n"


@pytest.fixture
def boot(tmp_path: Path) -> Path:
    d = tmp_path / "boot"
    d.mkdir()
    (d / "config.txt").write_text(CONFIG)
    (d / "cmdline.txt").write_text(CMDLINE)
    return d


def proc(tmp_path: Path, slot_nr: str, tryboot: int | None) -> tuple[Path, Path]:
    cmdline = tmp_path / "cmdline"
    cmdline.write_text(CMDLINE.replace(f"{DISK}-02", f"{DISK}-{slot_nr}"))
    chosen = tmp_path / "chosen"
    chosen.mkdir(exist_ok=True)
    if tryboot is None:
        (chosen / "tryboot").unlink(missing_ok=True)
    else:
        (chosen / "tryboot").write_bytes(tryboot.to_bytes(4, "big"))
    return cmdline, chosen


def test_cmdline_words() -> None:
    assert slot_of_cmdline(CMDLINE, DISK) == "A"
    assert slot_of_cmdline(CMDLINE, "00000000") is None  # another disk's partition is no slot of ours
    b = with_root(CMDLINE, DISK, "B")
    assert slot_of_cmdline(b, DISK) == "B" and b.split()[0] == "console=serial0,115200"
    assert b.count("root=") == 1 and "rootfstype=ext4" in b


def test_tryboot_arm_commit_and_disarm(boot: Path, tmp_path: Path) -> None:
    cmdline, chosen = proc(tmp_path, "02", 0)
    loader = TrybootLoader(boot, DISK, cmdline=cmdline, chosen=chosen)
    assert loader.committed() == "A" and loader.booted() == Booted("A", False)
    assert loader.reboot_argument() == ""
    (boot / "slot-b").mkdir()
    files = SlotFiles("slot-b/vmlinuz-6.1.0-51-arm64", "slot-b/initrd.img-6.1.0-51-arm64")
    loader.perform(ArmTrial("B"), files)
    trial = (boot / "tryboot.txt").read_text().splitlines()
    assert "kernel=slot-b/vmlinuz-6.1.0-51-arm64" in trial
    assert "initramfs slot-b/initrd.img-6.1.0-51-arm64 followkernel" in trial
    assert "cmdline=slot-b/cmdline.txt" in trial
    assert "arm_64bit=1" in trial and "enable_uart=1" in trial  # the rest of config.txt is kept
    assert sum(ln.startswith(("kernel=", "initramfs ")) for ln in trial) == 2  # the old ones replaced
    assert slot_of_cmdline((boot / "slot-b/cmdline.txt").read_text(), DISK) == "B"
    assert (boot / "config.txt").read_text() == CONFIG  # the committed config is untouched by a trial
    assert loader.committed() == "A" and loader.reboot_argument() == "0 tryboot"
    # the firmware booted tryboot.txt: /proc/cmdline names B, the chosen node says tryboot
    cmdline, chosen = proc(tmp_path, "03", 1)
    assert loader.booted() == Booted("B", True)
    loader.perform(Commit("B"))
    assert not (boot / "tryboot.txt").exists()
    config = (boot / "config.txt").read_text()
    assert "cmdline=slot-b/cmdline.txt" in config and "kernel=slot-b/vmlinuz-6.1.0-51-arm64" in config
    assert loader.committed() == "B"
    assert not list(boot.glob("*.tmp"))
    # the next update (to A) is armed and then given up: config.txt stays B's
    (boot / "slot-a").mkdir()
    loader.perform(ArmTrial("A"), SlotFiles("slot-a/vmlinuz", "slot-a/initrd"))
    assert slot_of_cmdline((boot / "slot-a/cmdline.txt").read_text(), DISK) == "A"
    loader.perform(Disarm())
    assert not (boot / "tryboot.txt").exists() and loader.committed() == "B"
    with pytest.raises(PeerError, match="nothing to commit"):
        loader.perform(Commit("A"))


def test_tryboot_reports_what_the_kernel_was_given(boot: Path, tmp_path: Path) -> None:
    cmdline, chosen = proc(tmp_path, "03", None)  # firmware too old for the chosen/tryboot property
    loader = TrybootLoader(boot, DISK, cmdline=cmdline, chosen=chosen)
    assert loader.booted() == Booted("B", False)
    cmdline.write_text("console=tty1 root=/dev/mmcblk0p2\n")
    with pytest.raises(PeerError, match="not booted from root slot"):
        loader.booted()
    (boot / "cmdline.txt").write_text("console=tty1\n")
    with pytest.raises(PeerError, match="no root=PARTUUID"):
        loader.committed()


def _initrd(boot_dir: Path, work: Path, root: str) -> tuple[str, str, str]:
    """The image's initrd script, as the guest's initramfs runs it (klibc's sh is dash); the boot
    partition is ``boot_dir`` (mount/umount are no-ops)."""
    dev = work / "dev"
    dev.mkdir(exist_ok=True)
    (dev / f"{DISK}-01").touch()
    param, runfile = work / "param.conf", work / "roamline-slot"
    param.unlink(missing_ok=True)
    runfile.unlink(missing_ok=True)
    script = work / "roamline-slot.sh"
    script.write_text(INITRD_SLOT_SCRIPT)
    env = {"PATH": os.environ["PATH"], "ROOT": root, "ROAMLINE_BOOTMNT": str(boot_dir),
           "ROAMLINE_PARAM": str(param), "ROAMLINE_RUNFILE": str(runfile), "ROAMLINE_DEVDIR": str(dev),
           "ROAMLINE_MOUNT": "true", "ROAMLINE_UMOUNT": "true", "ROAMLINE_WAIT": "1"}
    done = subprocess.run(["dash", str(script)], env=env, capture_output=True, text=True, timeout=30,
                          check=True)
    return (param.read_text() if param.exists() else "", runfile.read_text() if runfile.exists() else "",
            done.stdout)


@pytest.mark.skipif(shutil.which("dash") is None, reason="dash (klibc's sh is a dash) not installed")
def test_initrd_flag_trial_is_one_shot_through_the_images_initrd_script(boot: Path, tmp_path: Path) -> None:
    work = tmp_path / "initrd"
    work.mkdir()
    run_file = tmp_path / "run-roamline-slot"
    cmdline = tmp_path / "cmdline"
    cmdline.write_text(CMDLINE)
    loader = FlagFileLoader(boot, DISK, run_file=run_file, cmdline=cmdline)
    # a fresh image: no files; the initrd leaves root= alone, the system says slot A (from /proc/cmdline)
    param, chosen, _ = _initrd(boot, work, f"PARTUUID={DISK}-02")
    assert (param, chosen) == ("", "")
    assert loader.booted() == Booted("A", False) and loader.committed() == "A"
    loader.perform(ArmTrial("B"))
    assert (boot / "roamline-tryboot.txt").read_text() == "B\n"
    assert (boot / "roamline-slot.txt").read_text() == "A\n"
    # the trial boot: the initrd picks B and empties the flag before the root is mounted
    param, chosen, out = _initrd(boot, work, f"PARTUUID={DISK}-02")
    assert param == f"ROOT=PARTUUID={DISK}-03\n" and chosen == "slot=B mode=trial\n"
    assert "root slot B (trial)" in out and (boot / "roamline-tryboot.txt").read_text() == ""
    run_file.write_text(chosen)
    assert loader.booted() == Booted("B", True)
    # no verdict (a crash, a hang, a failed check): the next boot is A's
    param, chosen, _ = _initrd(boot, work, f"PARTUUID={DISK}-02")
    assert param == f"ROOT=PARTUUID={DISK}-02\n" and chosen == "slot=A mode=committed\n"
    # armed again, tried, committed: B from then on, whatever root= the kernel was given
    loader.perform(ArmTrial("B"))
    _initrd(boot, work, f"PARTUUID={DISK}-02")
    loader.perform(Commit("B"))
    assert loader.committed() == "B" and (boot / "roamline-tryboot.txt").read_text() == ""
    for _ in range(2):
        param, chosen, _ = _initrd(boot, work, f"PARTUUID={DISK}-02")
        assert param == f"ROOT=PARTUUID={DISK}-03\n" and chosen == "slot=B mode=committed\n"
    loader.perform(ArmTrial("A"))
    loader.perform(Disarm())
    param, chosen, _ = _initrd(boot, work, f"PARTUUID={DISK}-02")
    assert chosen == "slot=B mode=committed\n"
    # a root= that is not one of the image's slots, or no boot partition: untouched
    assert _initrd(boot, work, "/dev/vda2")[:2] == ("", "")
    (work / "dev" / f"{DISK}-01").unlink()
    script_env_dev = work / "dev"
    shutil.rmtree(script_env_dev)
    param, chosen, out = _initrd(boot, work, "PARTUUID=0badd15c-02")
    assert (param, chosen) == ("", "") and "no boot partition" in out


def test_backends_by_name(boot: Path) -> None:
    assert for_backend("tryboot", boot, DISK).name == "tryboot"
    assert for_backend("initrd-flag", boot, DISK).name == "initrd-flag"
    with pytest.raises(Exception, match="no boot-loader backend"):
        for_backend("u-boot", boot, DISK)


def test_board_profiles_name_their_boot_loader() -> None:
    from roamline.board.profile import load_profile

    assert load_profile("sim").backends.bootloader == "initrd-flag"
    for pi in ("pi3-ag1171", "pi4-ag1171", "pi5-ag1171"):
        assert load_profile(pi).backends.bootloader == "tryboot"


def test_the_image_build_puts_the_script_and_the_fat_modules_in_the_initrd() -> None:
    hook = " ".join(rootfs_hooks())
    assert INITRD_SLOT_SCRIPT in hook and INITRD_SLOT_PATH in hook
    assert INITRD_SLOT_PATH.startswith("/etc/initramfs-tools/scripts/local-top/")  # before root= is used
    assert {"vfat", "nls_cp437"} <= set(INITRD_MODULES)
