"""`cloud installer issue` then `provision box list` against the registry over real QUIC."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from roamline.cli.main import main as cli_main
from roamline.provisioning.enroll import EnrollmentFailed
from roamline.provisioning.errors import UsageError
from roamline.provisioning.installer import list_boxes, load_credential
from roamline.wire import identity

from .test_server import Cloud, run


def test_installer_lists_boxes_over_the_link(tmp_path: Path, capsys: Any) -> None:
    cred_dir = tmp_path / "cred"
    capsys.readouterr()

    async def body(cloud: Cloud) -> None:
        a = await cloud.box("shop-front")
        b = await cloud.box("back-office")
        issue = ["cloud", "installer", "issue", "--data", str(cloud.data.root), "--name", "Ann.Installer",
                 "--out", str(cred_dir)]
        assert await asyncio.to_thread(cli_main, issue) == 0
        assert json.loads(capsys.readouterr().out)["installer"] == "ann.installer"
        assert (cred_dir / "installer.key").stat().st_mode & 0o777 == 0o600
        boxes = await list_boxes(cloud.address, load_credential(cred_dir))
        assert {x["id"]: x["name"] for x in boxes} == {a.box_id: "shop-front", b.box_id: "back-office"}
        registry = f"127.0.0.1:{cloud.address.port}"
        argv = ["provision", "box", "list", "--registry", registry, "--installer", str(cred_dir)]
        assert await asyncio.to_thread(cli_main, argv) == 0
        out = capsys.readouterr().out
        assert a.box_id in out and "shop-front" in out and out.strip().endswith("2 boxes")
        assert await asyncio.to_thread(cli_main, [*argv, "--json"]) == 0
        rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert sorted(r["id"] for r in rows) == sorted([a.box_id, b.box_id])
        # the same again refuses to overwrite the credential
        assert await asyncio.to_thread(cli_main, issue) == 2
        assert "already holds an installer key" in capsys.readouterr().err
        # a credential from another CA is refused by the registry (TLS pins our CA; hello checks the cert)
        rogue = identity.CertificateAuthority.create(now=cloud.wall())
        key = identity.generate_key()
        bad_cert = rogue.issue(role=identity.Role.INSTALLER, subject_id="mallory",
                               public_key=key.public_key(), now=cloud.wall())
        forged = load_credential(cred_dir)
        forged = type(forged)("mallory", key, identity.certificate_pem(bad_cert).decode(), forged.ca_pem)
        with pytest.raises(EnrollmentFailed, match="Roamline CA"):
            await list_boxes(cloud.address, forged)

    run(body, tmp_path)


def test_credential_files_are_checked(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not an installer credential"):
        load_credential(tmp_path)
