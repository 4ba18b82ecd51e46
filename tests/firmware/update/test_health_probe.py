"""`roamline box health`: the firmware's own health check (link up through a real registry on loopback,
card readers through the private pcscd), as an update bundle's health command."""

from __future__ import annotations

import json
import shlex
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from roamline.cli.main import main as cli_main
from roamline.cloud.store import Box
from roamline.hil.pcsc import PcscDaemon
from roamline.wire import identity

from ...provisioning.enroll.registrar_support import Registrar


@pytest.fixture
def registrar(tmp_path: Path) -> Iterator[Registrar]:
    r = Registrar(tmp_path)
    r.start()
    yield r
    r.stop()


def box_config(r: Registrar, root: Path, card: str = "none", readers: tuple[str, ...] = ()) -> Path:
    key = identity.generate_key()
    box_id = identity.box_id_for_key(key.public_key())
    cert = identity.certificate_pem(r.ca.issue(role=identity.Role.BOX, subject_id=box_id,
                                               public_key=key.public_key(), now=time.time())).decode()
    r.call(r.store.put_box, Box(box_id=box_id, cert_pem=cert, name="t", board="sim", location=None,
                                line_number=None, owner=None, revoked=False, created=time.time()))
    (root / "box.key").write_bytes(identity.private_key_pem(key))
    (root / "box.pem").write_text(cert)
    quoted = ", ".join(json.dumps(x) for x in readers)
    (root / "box.toml").write_text(f"""name = "t"
board = "sim"
[registry]
host = "127.0.0.1"
port = {r.server.port}
ca = "{r.ca_path}"
[identity]
cert = "box.pem"
key = "box.key"
[card]
backend = "{card}"
readers = [{quoted}]
""")
    return root / "box.toml"


def health(capsys: Any, config: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    capsys.readouterr()
    rc = cli_main(["box", "health", "--config", str(config), "--timeout", "3", *extra])
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    return rc, json.loads(lines[-1]) if lines else {}, err


def test_healthy_then_link_down(registrar: Registrar, tmp_path: Path, capsys: Any) -> None:
    config = box_config(registrar, tmp_path)
    rc, out, err = health(capsys, config)
    assert rc == 0, err
    assert out["healthy"] is True and out["link"] == "up" and out["source"] == "probe"
    assert out["probe_because"].startswith("no box service state at")
    registrar.stop()
    rc, out, err = health(capsys, config)
    assert rc == 1 and out["healthy"] is False and "link down" in err


@pytest.mark.pcscd
def test_card_readers_are_checked(registrar: Registrar, pcscd: PcscDaemon, tmp_path: Path,
                                  capsys: Any) -> None:
    names = [r.name for r in pcscd.readers]
    rc, out, _ = health(capsys, box_config(registrar, tmp_path, "board", tuple(names)))
    assert rc == 0 and out["card"] == f"{len(names)} reader(s)"
    other = tmp_path / "other"
    other.mkdir()
    rc, out, err = health(capsys, box_config(registrar, other, "board", ("No Such Reader 00 00",)))
    assert rc == 1 and "readers missing: No Such Reader" in err


def test_an_update_is_kept_only_if_the_box_health_check_passes(registrar: Registrar, tmp_path: Path,
                                                              capsys: Any) -> None:
    """The bundle's health command is `roamline box health`: healthy with the registry reachable; the next
    update, checked while the registry is unreachable, is rolled back."""
    config = box_config(registrar, tmp_path)
    ops, state = tmp_path / "ops", tmp_path / "state"
    ops.mkdir()
    state.mkdir()
    assert cli_main(["provision", "update", "keygen", "--out", str(ops)]) == 0
    (state / "operator.pem").write_bytes((ops / "operator.pem").read_bytes())
    check = shlex.join([sys.executable, "-m", "roamline.cli.main", "box", "health", "--config", str(config),
                        "--timeout", "3"])

    def ship(version: str) -> None:
        app = tmp_path / f"app-{version}"
        app.mkdir()
        (app / "VERSION").write_text(version)
        bundle = tmp_path / f"{version}.rlu"
        assert cli_main(["provision", "update", "build", "--payload", str(app), "--version", version,
                         "--key", str(ops / "operator.key"), "--health", check, "--out", str(bundle)]) == 0
        assert cli_main(["box", "update", "apply", str(bundle), "--state", str(state)]) == 0
        assert cli_main(["box", "update", "boot", "--state", str(state)]) == 0

    cli_main(["box", "update", "boot", "--state", str(state)])
    ship("2.0")
    assert cli_main(["box", "update", "health", "--state", str(state), "--timeout", "60"]) == 0
    registrar.stop()  # the registry is unreachable when 3.0 boots
    ship("3.0")
    capsys.readouterr()
    assert cli_main(["box", "update", "health", "--state", str(state), "--timeout", "60"]) == 1
    assert "link down" in capsys.readouterr().err
    assert cli_main(["box", "update", "boot", "--state", str(state)]) == 0
    booted = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (booted["booted"], booted["version"]) == ("b", "2.0")  # rolled back to the healthy 2.0
