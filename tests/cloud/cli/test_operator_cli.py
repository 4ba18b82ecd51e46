from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from roamline.cli.main import main
from roamline.cloud.store import SqliteStore
from roamline.wire.identity import token_hash


def last_json(capsys: Any) -> Any:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_operator_commands(tmp_path: Path, capsys: Any) -> None:
    data = str(tmp_path / "reg")
    assert main(["cloud", "ca", "init", "--data", data]) == 0
    first = last_json(capsys)
    assert first["ca_created"] and Path(first["server_cert"]).exists()
    ca_before = (tmp_path / "reg" / "ca.pem").read_bytes()
    assert main(["cloud", "ca", "init", "--data", data]) == 0
    assert not last_json(capsys)["ca_created"]
    assert (tmp_path / "reg" / "ca.pem").read_bytes() == ca_before  # never replaces the CA

    assert main(["cloud", "account", "create", "--data", data, "--name", "Ann", "--id", "ann",
                 "--number", "+15550100001"]) == 0
    assert last_json(capsys) == {"account_id": "ann", "name": "Ann", "numbers": ["+15550100001"]}
    assert main(["cloud", "account", "add-number", "--data", data, "Ann", "+15550100002"]) == 0
    assert last_json(capsys)["numbers"] == ["+15550100001", "+15550100002"]

    assert main(["cloud", "token", "issue", "--data", data, "--kind", "box", "--ttl", "60"]) == 0
    token = capsys.readouterr().out.strip()
    with SqliteStore(tmp_path / "reg" / "registry.db") as store:
        stored = store.consume_token(token_hash(token))
        assert stored is not None and stored.kind == "box" and not stored.used
        assert store.events()  # operator acts are logged

    assert main(["cloud", "where", "+15550100001", "--data", data, "--json"]) == 0
    assert last_json(capsys) == []


@pytest.mark.parametrize(("argv", "fragment"), [
    (["cloud", "account", "create", "--name", "X", "--number", "5551234"], "--number: must be an E.164"),
    (["cloud", "account", "add-number", "nobody", "+15550100001"], "no account"),
    (["cloud", "card", "revoke", "c0ffee"], "no card"),
    (["cloud", "box", "revoke", "box-0000000000000000"], "no box"),
    (["cloud", "token", "issue", "--ttl", "0"], "argument --ttl: must be a number of seconds > 0"),
])
def test_operator_errors_are_one_line(tmp_path: Path, capsys: Any, argv: list[str], fragment: str) -> None:
    data = tmp_path / "reg"
    assert main(["cloud", "ca", "init", "--data", str(data)]) == 0
    capsys.readouterr()
    assert main([*argv, "--data", str(data)]) == 2  # usage errors, all of them
    err = capsys.readouterr().err.strip()
    assert fragment in err and len(err.splitlines()) == 1


def test_missing_data_dir(tmp_path: Path, capsys: Any) -> None:
    assert main(["cloud", "where", "+15550100001", "--data", str(tmp_path / "none"), "--json"]) == 2
    assert "ca init" in capsys.readouterr().err


def test_a_directory_that_is_not_a_registry_is_left_alone(tmp_path: Path, capsys: Any) -> None:
    """`--data` naming some other directory must not grow a registry.db there."""
    assert main(["cloud", "where", "+15550100001", "--data", str(tmp_path), "--json"]) == 2
    assert "no registry.db" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
