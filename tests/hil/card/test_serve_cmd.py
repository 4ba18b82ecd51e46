"""`roamline hil card serve` in a subprocess puts a card file's card into the private pcscd's reader."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from roamline.firmware.card.pcsc import PyscardBackend
from roamline.firmware.card.session import CardSession
from roamline.hil.card.issue import TestCa
from roamline.hil.pcsc import PcscDaemon, wait_reader
from roamline.provisioning.cardfile import save_cardfile

pytestmark = pytest.mark.pcscd


def test_serve(tmp_path: Path, card_ca: TestCa, pcscd: PcscDaemon, card_rig: object) -> None:
    cf = card_ca.make_cardfile()
    path = tmp_path / "card.toml"
    save_cardfile(cf, path)
    reader = pcscd.readers[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "roamline.cli.main", "hil", "card", "serve", "--card", str(path),
         "--port", hex(reader.port)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert cf.card_id in proc.stdout.readline()
        wait_reader(reader.name, True)
        sess = CardSession(PyscardBackend(), reader.name)
        sess.open()
        try:
            sess.piv.select()
            assert sess.piv.read_chuid().card_id == cf.card_id
        finally:
            sess.close()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
        wait_reader(reader.name, False)
    finally:
        proc.kill()
        proc.wait()


def test_serve_bad_card_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[chuid]\n")
    argv = [sys.executable, "-m", "roamline.cli.main", "hil", "card", "serve"]
    argv += ["--card", str(bad), "--port", "9"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode != 0
    assert "bad.toml" in out.stderr and len(out.stderr.strip().splitlines()) == 1
