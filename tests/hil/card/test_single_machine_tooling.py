"""Issue 8, defect 6: `roamline hil pcscd run` on a directory in use refuses (the running daemon keeps its
socket); `roamline hil card serve` does not claim an insertion when nothing listens on its port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from roamline.hil.card.issue import TestCa
from roamline.hil.pcsc import PcscDaemon
from roamline.provisioning.cardfile import save_cardfile

CLI = [sys.executable, "-m", "roamline.cli.main"]


@pytest.mark.pcscd
def test_pcscd_run_refuses_a_directory_in_use(tmp_path: Path) -> None:
    with PcscDaemon(tmp_path / "pc") as first:
        inode = first.socket_path.stat().st_ino
        argv = [*CLI, "hil", "pcscd", "run", "--dir", str(tmp_path / "pc")]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        assert out.returncode != 0
        assert "in use" in out.stderr and len(out.stderr.strip().splitlines()) == 1
        assert first.running and first.socket_path.stat().st_ino == inode  # its socket was not taken
        env = dict(os.environ, **first.env)
        probe = subprocess.run([sys.executable, "-c", "from roamline.hil.pcsc import reader_present;"
                                f"print(reader_present({first.readers[0].name!r}))"],
                               capture_output=True, text=True, timeout=30, env=env, check=False)
        assert probe.stdout.strip() == "False", probe.stderr  # PC/SC clients still reach it: no card in


def test_pcscd_refuses_in_process_too(tmp_path: Path) -> None:
    """The check is in PcscDaemon itself: a second owner of the directory is refused before any I/O
    on the socket (no pcscd needed: a listening socket stands in for the running daemon)."""
    from roamline.hil.errors import UsageError

    d = tmp_path / "pc"
    d.mkdir()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(d / "pcscd.comm"))
        listener.listen()
        with pytest.raises(UsageError, match="in use"):
            PcscDaemon(d).start()
        assert (d / "pcscd.comm").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_card_serve_with_no_reader_refuses(tmp_path: Path) -> None:
    path = tmp_path / "card.toml"
    save_cardfile(TestCa().make_cardfile(), path)
    started = time.monotonic()
    out = subprocess.run([*CLI, "hil", "card", "serve", "--card", str(path), "--port", str(_free_port()),
                          "--wait", "1"], capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode != 0 and time.monotonic() - started < 20
    assert "inserted" not in out.stdout and "in vpcd reader" not in out.stdout
    assert "nothing listens" in out.stderr and len(out.stderr.strip().splitlines()) == 1
