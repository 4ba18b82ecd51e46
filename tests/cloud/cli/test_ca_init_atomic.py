"""`roamline cloud ca init` leaves nothing behind when it refuses or fails half-way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from roamline.cli.main import main
from roamline.wire import identity


def test_a_refused_server_name_writes_nothing(tmp_path: Path, capsys: Any) -> None:
    data = tmp_path / "reg"
    assert main(["cloud", "ca", "init", "--data", str(data), "--server-name", "bad_name!"]) == 2
    assert "--server-name" in capsys.readouterr().err
    assert not data.exists()


def test_a_failure_after_the_ca_is_made_leaves_no_half_ca(tmp_path: Path, monkeypatch: Any,
                                                           capsys: Any) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise identity.UsageError("simulated failure while issuing the registry certificate")

    monkeypatch.setattr(identity.CertificateAuthority, "issue_registry_tls", broken)
    data = tmp_path / "reg"
    assert main(["cloud", "ca", "init", "--data", str(data)]) == 2
    assert "simulated failure" in capsys.readouterr().err
    assert not data.exists()  # no ca.pem without its key, no key without its certificate


def test_a_failed_write_into_an_existing_directory_keeps_it_as_it_was(tmp_path: Path, monkeypatch: Any,
                                                                      capsys: Any) -> None:
    data = tmp_path / "reg"
    data.mkdir()
    (data / "notes.txt").write_text("mine")
    from roamline.cloud.cmd import common

    real = common.write_atomic
    calls: list[Path] = []

    def flaky(path: Path, blob: bytes, *, private: bool = False) -> None:
        calls.append(path)
        if path.name == "ca.pem":
            raise OSError(28, "No space left on device")
        real(path, blob, private=private)

    monkeypatch.setattr(common, "write_atomic", flaky)
    assert main(["cloud", "ca", "init", "--data", str(data)]) == 1
    assert capsys.readouterr().err.count("\n") == 1
    # the key was written whole but the certificate that marks a CA as made was not: the next run makes a
    # fresh CA (overwriting the orphan key) rather than trusting half of one
    assert not (data / "ca.pem").exists() and not list(data.glob(".*.tmp"))
    monkeypatch.setattr(common, "write_atomic", real)
    assert main(["cloud", "ca", "init", "--data", str(data)]) == 0
    ca = identity.CertificateAuthority.load(data)
    assert ca.certificate is not None and (data / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("data", ["", " "])
def test_an_empty_data_path_is_not_the_current_directory(data: str, tmp_path: Path, monkeypatch: Any,
                                                         capsys: Any) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["cloud", "ca", "init", "--data", data]) == 2
    assert "empty" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
