from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from roamline.cli.main import main
from roamline.cloud.records import Box, CallRecord
from roamline.cloud.store import SqliteStore


def _fill(db: Path) -> None:
    with SqliteStore(db) as store:
        store.create_account("ann", "Ann", 1.0)
        store.put_box(Box("box-h", "pem", "host", "sim", None, "+15551230000", None, False, 1.0))
        store.open_call(CallRecord(call_id="c-0000000000000001", route="incoming", caller="+15559870000",
                                   called="+15551230000", created=10.0, line="+15551230000"))
        store.close_call("c-0000000000000001", ended_at=70.0, outcome="answered", end_reason="hangup",
                         answered_at=10.0, answer_inferred=False, account_id="ann", card_id=None,
                         terminal_box="box-a", host_box="box-h", line="+15551230000", offered=("box-a",))
        store.open_call(CallRecord(call_id="c-0000000000000002", route="host-line", caller="+15550001111",
                                   called="+14155550000", created=20.0, state="closed", outcome="refused",
                                   end_reason="no-route", duration_s=0.0))


def test_calls_lists_records_filtered_by_number(tmp_path: Path, capsys: Any) -> None:
    data = tmp_path / "reg"
    data.mkdir()
    _fill(data / "registry.db")
    assert main(["cloud", "calls", "--data", str(data), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert [r["call_id"] for r in got] == ["c-0000000000000001", "c-0000000000000002"]
    assert got[0]["duration_s"] == 60.0 and got[0]["outcome"] == "answered" and got[0]["offered"] == ["box-a"]
    assert main(["cloud", "calls", "--data", str(data), "--number", "+14155550000", "--json"]) == 0
    assert [r["call_id"] for r in json.loads(capsys.readouterr().out)] == ["c-0000000000000002"]
    assert main(["cloud", "calls", "--data", str(data), "--number", "+15551230000"]) == 0
    text = capsys.readouterr().out
    assert "c-0000000000000001: +15559870000 → +15551230000 [incoming] answered at box-a, 60 s" in text
    assert main(["cloud", "calls", "--data", str(data), "--number", "+19999999999"]) == 0
    assert "no calls" in capsys.readouterr().out


def test_line_grant(tmp_path: Path, capsys: Any) -> None:
    data = tmp_path / "reg"
    data.mkdir()
    _fill(data / "registry.db")
    assert main(["cloud", "line", "grant", "--data", str(data), "Ann", "+15551230000"]) == 0
    assert json.loads(capsys.readouterr().out) == {"account_id": "ann", "lines": ["+15551230000"]}


@pytest.mark.parametrize(("argv", "fragment"), [
    (["cloud", "calls", "--number", "555"], "--number: must be an E.164"),
    (["cloud", "calls", "--limit", "0"], "--limit"),
    (["cloud", "line", "grant", "nobody", "+15551230000"], "no account"),
    (["cloud", "line", "grant", "Ann", "+15550000000"], "no enrolled box has the line"),
])
def test_errors_are_one_line(tmp_path: Path, capsys: Any, argv: list[str], fragment: str) -> None:
    data = tmp_path / "reg"
    data.mkdir()
    _fill(data / "registry.db")
    assert main([*argv, "--data", str(data)]) != 0
    err = capsys.readouterr().err.strip()
    assert fragment in err and len(err.splitlines()) == 1
