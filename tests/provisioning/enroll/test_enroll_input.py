"""`roamline provision box enroll` checks the whole address (and everything else) before it makes a key
or reaches the registry: an incomplete or P.O.-box address is refused in one line, exit 2."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from roamline.cli.main import main
from roamline.wire import identity

HOME = ["country=US", "A1=IL", "A3=Springfield", "RD=Elm Street", "HNO=12"]


@pytest.fixture
def listener() -> tuple[socket.socket, int]:
    """A UDP socket standing in for the registry: enroll must not send it anything."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    return s, s.getsockname()[1]


@pytest.mark.parametrize(("civic", "fragment"), [
    (HOME[:-1], "missing HNO"),
    (["country=US", "RD=Elm Street"], "missing A1, A3, HNO"),
    ([*HOME, "POBOX=12"], "P.O. box"),
    ([*HOME, "A1=WI"], "A1 is given twice"),
    ([*HOME, "STREET=x"], "'STREET'"),
])
def test_bad_address_is_refused_before_anything(civic: list[str], fragment: str, tmp_path: Path,
                                                 listener: tuple[socket.socket, int],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    sock, port = listener
    ca = identity.CertificateAuthority.create(now=time.time())
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    out = tmp_path / "box"
    argv = ["provision", "box", "enroll", "--registry", f"127.0.0.1:{port}", "--ca", str(tmp_path / "ca.pem"),
            "--token", "rlt_abcdefgh12345678", "--out", str(out), "--timeout", "1"]
    for pair in civic:
        argv += ["--civic", pair]
    t0 = time.monotonic()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0] and "--civic" in err[0]
    assert time.monotonic() - t0 < 1.0  # no connection attempt, no timeout waited
    assert not out.exists()
    with pytest.raises(BlockingIOError):
        sock.recv(2048)  # nothing was sent to the registry
    sock.close()
