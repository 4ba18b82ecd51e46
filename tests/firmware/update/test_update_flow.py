"""Signed updates end to end through the commands: `provision update keygen/build`, `box update
apply/boot/health/status`, on the file-backed boot state. A corrupted bundle, a bundle signed by another
key, firmware that fails its health check, a trial boot that never reports, and power lost mid-install
(the installer process killed with SIGKILL while it writes the slot)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from roamline.cli.main import main as cli_main
from roamline.firmware.update.bootstate import FileBootState, SlotState


def cli(capsys: Any, *argv: str) -> tuple[int, dict[str, Any], str]:
    capsys.readouterr()
    rc = cli_main(list(argv))
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    return rc, (json.loads(lines[-1]) if lines else {}), err


@pytest.fixture
def box(tmp_path: Path, capsys: Any) -> Path:
    """An operator key, and a box's state directory that trusts it (slot a: the factory install)."""
    ops = tmp_path / "operator"
    ops.mkdir()
    assert cli(capsys, "provision", "update", "keygen", "--out", str(ops))[0] == 0
    state = tmp_path / "state"
    state.mkdir()
    (state / "operator.pem").write_bytes((ops / "operator.pem").read_bytes())
    return tmp_path


def payload(root: Path, version: str, healthy: bool = True, big: int = 0) -> Path:
    d = root / f"app-{version}"
    d.mkdir()
    (d / "VERSION").write_text(version)
    check = "exit 0\n" if healthy else "echo modem not answering >&2; exit 3\n"
    (d / "health").write_text("#!/bin/sh\n" + check)
    (d / "health").chmod(0o755)
    if big:
        (d / "blob.bin").write_bytes(os.urandom(big))
    return d


def build(capsys: Any, root: Path, version: str, *, key: Path | None = None, **kw: Any) -> Path:
    out = root / f"{version}.rlu"
    rc, _, err = cli(capsys, "provision", "update", "build", "--payload", str(payload(root, version, **kw)),
                     "--version", version, "--key", str(key or root / "operator" / "operator.key"),
                     "--health", "./health", "--out", str(out))
    assert rc == 0, err
    return out


def test_update_is_installed_switched_on_reboot_and_kept_when_healthy(box: Path, capsys: Any) -> None:
    state = str(box / "state")
    assert cli(capsys, "box", "update", "boot", "--state", state)[1]["booted"] == "a"
    rc, out, _ = cli(capsys, "box", "update", "apply", str(build(capsys, box, "2.0")), "--state", state)
    assert rc == 0 and out["installed"] == "b"
    assert (box / "state" / "slots" / "b" / "VERSION").read_text() == "2.0"
    booted = cli(capsys, "box", "update", "boot", "--state", state)[1]
    assert (booted["booted"], booted["slot_state"]) == ("b", "trying")
    rc, out, _ = cli(capsys, "box", "update", "health", "--state", state)
    assert rc == 0 and (out["primary"], out["slot_state"]) == ("b", "good")
    assert cli(capsys, "box", "update", "boot", "--state", state)[1]["booted"] == "b"
    # the next update goes into the other slot, a
    assert cli(capsys, "box", "update", "apply", str(build(capsys, box, "3.0")), "--state", state)[1][
        "installed"] == "a"


def test_firmware_failing_its_health_check_is_rolled_back(box: Path, capsys: Any) -> None:
    state = str(box / "state")
    cli(capsys, "box", "update", "boot", "--state", state)
    assert cli(capsys, "box", "update", "apply", str(build(capsys, box, "2.0", healthy=False)),
               "--state", state)[0] == 0
    assert cli(capsys, "box", "update", "boot", "--state", state)[1]["booted"] == "b"
    rc, _, err = cli(capsys, "box", "update", "health", "--state", state)
    assert rc == 1 and "not healthy" in err and "modem not answering" in err
    assert cli(capsys, "box", "update", "boot", "--state", state)[1]["booted"] == "a"  # rolled back
    status = cli(capsys, "box", "update", "status", "--state", state)[1]
    assert status["primary"] == "a" and status["slots"]["b"] == "bad"


def test_a_trial_boot_that_never_reports_is_rolled_back(box: Path, capsys: Any) -> None:
    state = str(box / "state")
    cli(capsys, "box", "update", "apply", str(build(capsys, box, "2.0")), "--state", state)
    assert cli(capsys, "box", "update", "boot", "--state", state)[1]["booted"] == "b"
    # the new firmware hangs or crashes before its health check: the watchdog reboots the box
    assert cli(capsys, "box", "update", "boot", "--state", state)[1]["booted"] == "a"


def test_corrupted_bundle_is_refused_before_anything_is_written(box: Path, capsys: Any) -> None:
    bundle = build(capsys, box, "2.0")
    raw = bytearray(bundle.read_bytes())
    raw[-100] ^= 0x01  # one bit in the payload
    bundle.write_bytes(bytes(raw))
    state = box / "state"
    rc, _, err = cli(capsys, "box", "update", "apply", str(bundle), "--state", str(state))
    assert rc == 1 and "corrupted" in err and len(err.strip().splitlines()) == 1
    assert not (state / "slots").exists() and FileBootState(state).load().slots["b"] is SlotState.EMPTY
    truncated = box / "t.rlu"
    truncated.write_bytes(bytes(raw[:40]))
    rc, _, err = cli(capsys, "box", "update", "apply", str(truncated), "--state", str(state))
    assert rc == 1 and "truncated" in err


def test_bundle_signed_by_another_key_is_refused(box: Path, capsys: Any) -> None:
    rogue = box / "rogue"
    rogue.mkdir()
    cli(capsys, "provision", "update", "keygen", "--out", str(rogue))
    bundle = build(capsys, box, "6.6.6", key=rogue / "operator.key")
    rc, _, err = cli(capsys, "box", "update", "apply", str(bundle), "--state", str(box / "state"))
    assert rc == 1 and "not signed by the trusted operator key" in err
    assert not (box / "state" / "slots").exists()


def test_power_lost_during_install_keeps_the_old_slot(box: Path, capsys: Any) -> None:
    state = box / "state"
    cli(capsys, "box", "update", "boot", "--state", str(state))
    bundle = build(capsys, box, "2.0", big=24 << 20)
    proc = subprocess.Popen([sys.executable, "-m", "roamline.cli.main", "box", "update", "apply", str(bundle),
                             "--state", str(state)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    staging = state / "slots" / "b.new"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:  # kill it once it is writing the slot
            if (staging / "blob.bin").exists() and (staging / "blob.bin").stat().st_size > 0:
                break
            assert proc.poll() is None, "the installer finished before it could be interrupted"
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    after = FileBootState(state).load()
    assert after.slots["b"] is SlotState.INSTALLING and after.primary == "a"
    booted = cli(capsys, "box", "update", "boot", "--state", str(state))[1]["booted"]
    assert booted == "a"  # never the torn slot
    # the same bundle applied again finishes the job
    assert cli(capsys, "box", "update", "apply", str(bundle), "--state", str(state))[0] == 0
    assert cli(capsys, "box", "update", "boot", "--state", str(state))[1]["booted"] == "b"
    assert (state / "slots" / "b" / "blob.bin").stat().st_size == 24 << 20 and not staging.exists()


def test_install_without_tarfile_filters_keeps_the_payload_inside_the_slot(
        box: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The box's Python (Debian bookworm's 3.11.2) has no tarfile extraction filters (3.11.4): the
    installer's own member checks stand in. Found by applying a bundle in the guest (`make image-test`)."""
    import tarfile

    monkeypatch.delattr(tarfile, "data_filter")
    state = str(box / "state")
    good = payload(box, "2.0")
    (good / "site" / "roamline").mkdir(parents=True)
    (good / "site" / "roamline" / "VERSION").write_text("2.0")
    (good / "site" / "current").symlink_to("roamline")
    (good / "setid").write_text("#!/bin/sh\n")
    (good / "setid").chmod(0o6777)
    out = box / "2.0.rlu"
    assert cli(capsys, "provision", "update", "build", "--payload", str(good), "--version", "2.0", "--key",
               str(box / "operator" / "operator.key"), "--health", "./health", "--out", str(out))[0] == 0
    rc, got, err = cli(capsys, "box", "update", "apply", str(out), "--state", state)
    assert rc == 0 and got["installed"] == "b", err
    slot = box / "state" / "slots" / "b"
    assert (slot / "site" / "current" / "VERSION").read_text() == "2.0"
    assert os.access(slot / "health", os.X_OK)
    assert (slot / "setid").stat().st_mode & 0o7777 == 0o755  # no set-id bits, no write for others
    # a link out of the slot: refused, nothing installed
    bad = payload(box, "3.0")
    (bad / "etc").symlink_to("../../../../etc")
    out = box / "3.0.rlu"
    assert cli(capsys, "provision", "update", "build", "--payload", str(bad), "--version", "3.0", "--key",
               str(box / "operator" / "operator.key"), "--health", "./health", "--out", str(out))[0] == 0
    rc, _, err = cli(capsys, "box", "update", "apply", str(out), "--state", state)
    assert rc != 0 and "outside the slot" in err
    assert not (box / "state" / "slots" / "a" / "etc").exists()
