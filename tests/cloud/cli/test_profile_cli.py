"""`roamline cloud filters|speed-dials|rights|profile show|profile set` on a real registry store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from roamline.cli.main import main
from roamline.cloud.records import Box
from roamline.cloud.sqlite_store import SqliteStore
from roamline.wire import profile as wp

LINE = "+15551230000"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    d = tmp_path / "reg"
    assert main(["cloud", "ca", "init", "--data", str(d)]) == 0
    assert main(["cloud", "account", "create", "--data", str(d), "--name", "Alice", "--id", "alice",
                 "--number", "+15550100001"]) == 0
    with SqliteStore(d / "registry.db") as store:
        store.put_box(Box("box-h", "pem", "host", "sim", None, LINE, None, False, 1.0))
    return d


def run(capsys: Any, *argv: str) -> tuple[int, Any, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    last = out.strip().splitlines()[-1] if out.strip() else ""
    try:
        return rc, json.loads(last), err
    except ValueError:
        return rc, out, err


def stored(data: Path) -> wp.Profile:
    with SqliteStore(data / "registry.db") as store:
        got = store.get_profile("alice")
    assert got is not None
    return wp.parse(got[0])


def test_filters_schedules_and_clearing(data: Path, capsys: Any) -> None:
    rc, shown, _ = run(capsys, "cloud", "filters", "--data", str(data), "alice", "--json",
                       "--schedule", "evenings=mon-fri@19:00-07:00;2026-12-24T18:00..2027-01-02T08:00",
                       "--add", "spam:block:names=*SALES*|*SPAM*,prefixes=+1900,refusal=silent",
                       "--add", "late:voicemail:schedule=evenings",
                       "--add", "fwd:forward:to=+15550200002,withheld=yes")
    assert rc == 0 and [f["name"] for f in shown["filters"]] == ["spam", "late", "fwd"]
    p = stored(data)
    assert p.filters[0].refusal is wp.Refusal.SILENT and p.filters[0].names == ("*SALES*", "*SPAM*")
    assert p.schedule("evenings").windows[0].days == (0, 1, 2, 3, 4)  # type: ignore[union-attr]
    assert len(p.schedule("evenings").periods) == 1  # type: ignore[union-attr]
    assert p.filters[2].forward_to == "+15550200002" and p.filters[2].withheld
    rc, shown, _ = run(capsys, "cloud", "filters", "--data", str(data), "alice", "--remove", "late",
                       "--json")
    assert [f["name"] for f in shown["filters"]] == ["spam", "fwd"]
    # a filter naming a missing schedule is refused whole
    rc, _, err = run(capsys, "cloud", "filters", "--data", str(data), "alice",
                     "--add", "x:ring:schedule=nope")
    assert rc == 2 and "no schedule 'nope'" in err and len(err.strip().splitlines()) == 1
    assert [f.name for f in stored(data).filters] == ["spam", "fwd"]  # unchanged
    rc, shown, _ = run(capsys, "cloud", "filters", "--data", str(data), "alice", "--clear", "--json")
    assert shown["filters"] == []


@pytest.mark.parametrize("spec", ["spam", "spam:explode", "spam:block:colour=red", "spam:forward",
                                  "Bad:ring", "x:block:prefixes=1900", "x:ring:refusal=silent"])
def test_bad_filter_specs_are_refused_in_one_line(data: Path, capsys: Any, spec: str) -> None:
    rc, _, err = run(capsys, "cloud", "filters", "--data", str(data), "alice", "--add", spec)
    assert rc == 2 and "--add" in err and len(err.strip().splitlines()) == 1


def test_speed_dials_set_and_clear(data: Path, capsys: Any) -> None:
    rc, shown, _ = run(capsys, "cloud", "speed-dials", "--data", str(data), "alice", "--json",
                       "--set", "2=+15550400004,Pizza", "--set", "9=+442079460000")
    assert rc == 0 and [d["key"] for d in shown["speed_dials"]] == ["2", "9"]
    rc, shown, _ = run(capsys, "cloud", "speed-dials", "--data", str(data), "alice", "--clear", "9", "--json")
    assert shown["speed_dials"] == [{"key": "2", "number": "+15550400004", "label": "Pizza"}]
    for bad in ("1=+15550400004", "2=5550400004", "2"):
        rc, _, err = run(capsys, "cloud", "speed-dials", "--data", str(data), "alice", "--set", bad)
        assert rc == 2 and "--set" in err


def test_local_dials_set_and_clear(data: Path, capsys: Any) -> None:
    rc, shown, _ = run(capsys, "cloud", "local-dials", "--data", str(data), "alice", "--json",
                       "--set", "1=pizza", "--set", "12=taxi", "--set", "1=late-pizza")
    assert rc == 0 and shown["local_dials"] == [{"code": "1", "category": "late-pizza"},
                                                {"code": "12", "category": "taxi"}]
    assert stored(data).local_dial("12") == wp.LocalDial("12", "taxi")
    rc, shown, _ = run(capsys, "cloud", "local-dials", "--data", str(data), "alice", "--clear", "12",
                       "--json")
    assert shown["local_dials"] == [{"code": "1", "category": "late-pizza"}]
    for bad in ("123=pizza", "1=Pizza", "x=pizza", "1", "1="):
        rc, _, err = run(capsys, "cloud", "local-dials", "--data", str(data), "alice", "--set", bad)
        assert rc == 2 and "--set" in err and len(err.strip().splitlines()) == 1


def test_profile_set_keeps_only_a_hash_of_the_pin_and_show_prints_it_all(data: Path, capsys: Any) -> None:
    rc, shown, _ = run(capsys, "cloud", "profile", "set", "--data", str(data), "alice", "--json", "--pin",
                       "246810", "--timezone", "America/Chicago", "--ring", "+15550100001=us-dr3",
                       "--voicemail-timeout", "15")
    assert rc == 0 and shown["profile"]["voicemail"]["pin_hash"] == "set"
    p = stored(data)
    assert wp.check_pin("246810", p.voicemail.pin_hash) and "246810" not in p.voicemail.pin_hash
    assert p.timezone == "America/Chicago" and p.cadence_for("+15550100001") == "us-dr3"
    rc, shown, _ = run(capsys, "cloud", "profile", "show", "--data", str(data), "alice", "--json")
    assert rc == 0 and wp.parse(shown["profile"]) == p and shown["version"] >= 1
    rc, text, _ = run(capsys, "cloud", "profile", "show", "--data", str(data), "alice")
    assert "PIN set" in text and "246810" not in text
    rc, _, err = run(capsys, "cloud", "profile", "set", "--data", str(data), "alice", "--timezone",
                     "Mars/Base")
    assert rc == 2 and "--timezone" in err
    rc, _, err = run(capsys, "cloud", "profile", "show", "--data", str(data), "nobody")
    assert rc == 2 and "no account" in err


def test_a_voicemail_pin_is_4_to_8_digits_refused_in_one_line_and_can_be_cleared(data: Path,
                                                                                  capsys: Any) -> None:
    rc, shown, _ = run(capsys, "cloud", "profile", "set", "--data", str(data), "alice", "--json",
                       "--pin", "2468")
    assert rc == 0 and shown["profile"]["voicemail"]["pin_hash"] == "set"
    assert wp.check_pin("2468", stored(data).voicemail.pin_hash)
    for bad in ("123", "123456789", "12a4", "9110", "1120", "", "12 4"):
        rc, _, err = run(capsys, "cloud", "profile", "set", "--data", str(data), "alice", "--pin", bad)
        assert rc == 2 and "--pin" in err and len(err.strip().splitlines()) == 1, err
        assert not bad.strip() or bad not in err  # the refusal never repeats the PIN
    assert wp.check_pin("2468", stored(data).voicemail.pin_hash)  # a refusal changes nothing
    rc, _, err = run(capsys, "cloud", "profile", "set", "--data", str(data), "alice", "--pin", "2468",
                     "--clear-pin")
    assert rc == 2 and len(err.strip().splitlines()) == 1
    rc, shown, _ = run(capsys, "cloud", "profile", "set", "--data", str(data), "alice", "--json",
                       "--clear-pin")
    assert rc == 0 and shown["profile"]["voicemail"]["pin_hash"] == ""
    assert stored(data).voicemail.pin_hash == ""


def test_rights_on_a_host_line(data: Path, capsys: Any) -> None:
    rc, shown, _ = run(capsys, "cloud", "rights", "--data", str(data), "alice", LINE, "--json",
                       "--call-out", "yes", "--receive", "no", "--max-call-s", "600", "--prefix", "+1555",
                       "--block", "+15559990000", "--spend-limit", "20", "--rate", "0.1")
    assert rc == 0
    assert (shown["call_out"], shown["receive"], shown["max_call_s"], shown["prefixes"], shown["blocked"],
            shown["spend_limit"], shown["rate_per_min"]) == (True, False, 600.0, ["+1555"], ["+15559990000"],
                                                             20.0, 0.1)
    with SqliteStore(data / "registry.db") as store:
        assert store.line_rights_of("alice") == [LINE]
    rc, shown, _ = run(capsys, "cloud", "rights", "--data", str(data), "alice", LINE, "--revoke", "--json")
    assert shown["call_out"] is False and shown["prefixes"] == []
    rc, _, err = run(capsys, "cloud", "rights", "--data", str(data), "alice", "+15550000000")
    assert rc == 2 and "no enrolled box has the line" in err
    rc, _, err = run(capsys, "cloud", "rights", "--data", str(data), "alice", LINE, "--max-call-s", "5")
    assert rc == 2 and "--max-call-s" in err
