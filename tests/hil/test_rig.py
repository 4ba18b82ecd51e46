"""The rig file schema: good files load into typed frozen objects, bad ones fail with a one-line reason."""

from __future__ import annotations

import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.hil import content
from roamline.hil.rig import RigSpec, exchange_number, full_duplex, load_rig
from roamline.hil.rigrun import RigRunner
from roamline.hil.speech import available as espeak_available
from roamline.wire.config import ConfigError, parse

GOOD: dict[str, Any] = {
    "name": "t",
    "accounts": [{"name": "alice", "numbers": ["+15550100001"]}],
    "cards": [{"name": "alice-card", "account": "alice"}],
    "boxes": [
        {"name": "box-a", "line": {"number": "+15550100001", "modem": "cx93001"},
         "phone": {"backend": "sim"}},
        {"name": "box-b", "line": {"number": "+15550200002", "modem": "usr5637", "purpose": "messages"}},
        {"name": "box-c"},
    ],
    "exchange": {"phones": [{"number": "+15550300003", "name": "BOB"}]},
}


def write(tmp: Path, data: dict[str, Any]) -> Path:
    p = tmp / "rig.toml"
    p.write_text(tomli_w.dumps(data), encoding="utf-8")
    return p


def with_(path: str, value: Any) -> dict[str, Any]:
    """GOOD with one item replaced: ``path`` like "boxes.0.line.modem"."""
    data = tomllib.loads(tomli_w.dumps(GOOD))
    cur: Any = data
    keys = path.split(".")
    for k in keys[:-1]:
        cur = cur[int(k)] if isinstance(cur, list) else cur[k]
    last = keys[-1]
    if isinstance(cur, list):
        cur[int(last)] = value
    else:
        cur[last] = value
    return data


def test_demo_rig_loads_with_lines_phones_and_the_exchange() -> None:
    rig = load_rig("demo")
    assert [b.name for b in rig.boxes] == ["box-a", "box-b"]
    assert rig.cards[0].account == "alice"
    assert {b.line.modem for b in rig.boxes if b.line} <= {"cx93001", "mt9234mu"}  # conversation rigs
    assert all(b.line and b.line.purpose == "conversation" and b.phone for b in rig.boxes)
    assert rig.exchange is not None and rig.exchange.phones
    with pytest.raises(Exception, match="frozen"):
        rig.boxes[0].name = "x"  # type: ignore[misc]


def test_a_full_rig_loads(tmp_path: Path) -> None:
    rig = load_rig(write(tmp_path, GOOD))
    assert rig.box("box-a").line is not None and rig.box("box-a").phone is not None
    assert rig.box("box-c").line is None
    assert exchange_number("+15550100001") == "15550100001"
    assert full_duplex("cx93001") and full_duplex("mt9234mu") and not full_duplex("usr5637")


@pytest.mark.parametrize(("path", "value", "reason"), [
    ("boxes.0.line.modem", "usr5637", "half duplex"),
    ("boxes.0.line.modem", "hayes", "boxes.0.line.modem"),
    ("boxes.0.line.number", "5550100", "E.164"),
    ("boxes.0.line.exchange", "other", "names exchange 'other'"),
    ("boxes.0.phone", {"backend": "gpio"}, "boxes.0.phone.backend"),
    ("boxes.0.colour", "red", "boxes.0.colour: Extra inputs are not permitted"),
    ("boxes.0.line.colour", "red", "Extra inputs"),
    ("boxes.1.name", "box-a", "duplicate box names: box-a"),
    ("boxes.1.line.number", "+15550100001", "used twice on the exchange"),
    ("exchange.phones", [{"number": "+15550100001"}], "used twice on the exchange"),
    ("exchange.phones", [{"number": "+15550300003", "ring": 1}], "Extra inputs"),
    ("cards.0.account", "nobody", "unknown account 'nobody'"),
    ("cards.0.pin", "12", "cards.0.pin"),
    ("accounts.0.numbers", ["+1555"], "E.164"),
    ("boxes.0.name", "Box A", "a letter first"),
    ("cloud", {"port": 70000}, "cloud.port"),
])
def test_bad_rigs_fail_with_one_line_naming_the_problem(tmp_path: Path, path: str, value: Any,
                                                        reason: str) -> None:
    with pytest.raises(ConfigError, match=reason) as exc:
        load_rig(write(tmp_path, with_(path, value)))
    assert "\n" not in str(exc.value) and "rig.toml" in str(exc.value)


def test_lines_need_an_exchange(tmp_path: Path) -> None:
    data = with_("exchange", {})
    del data["exchange"]
    with pytest.raises(ConfigError, match="no \\[exchange\\]"):
        load_rig(write(tmp_path, data))


def test_two_accounts_cannot_share_a_follow_me_number(tmp_path: Path) -> None:
    data = with_("accounts", [{"name": "a", "numbers": ["+15550100001"]},
                              {"name": "b", "numbers": ["+15550100001"]}])
    data["cards"] = []
    with pytest.raises(ConfigError, match="two accounts"):
        load_rig(write(tmp_path, data))


def test_not_toml_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_rig(bad)
    with pytest.raises(ConfigError, match="no such file"):
        load_rig(tmp_path / "nope.toml")


values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                      lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
                      max_leaves=8)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["name", "cloud", "accounts", "cards", "boxes", "exchange", "x"]),
                       values, max_size=5))
def test_any_document_either_loads_or_is_a_config_error(data: dict[str, Any]) -> None:
    try:
        rig = parse(RigSpec, data, "fuzz")
    except ConfigError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(rig.name, str)


def test_the_runner_hands_the_exchange_the_rig_lines_and_phones(tmp_path: Path) -> None:
    runner = RigRunner(load_rig(write(tmp_path, GOOD)), tmp_path / "work")
    try:
        ex = runner.exchange_file()["exchange"]
        assert [(ln["number"], ln["modem"]) for ln in ex["lines"]] == [("15550100001", "cx93001"),
                                                                       ("15550200002", "usr5637")]
        assert [p["number"] for p in ex["phones"]] == ["15550300003"]
        assert all(len(ln["path"]) < 100 for ln in ex["lines"]) and len(ex["control"]) < 100
        from roamline.hil.exchange.rig import ExchangeSpec

        ExchangeSpec.model_validate(ex)  # what `roamline hil exchange run --rig` will accept
    finally:
        runner.stop()
    assert runner.run_dir is None


def test_the_runner_starts_the_exchange_and_pstn_phones_call_box_lines(tmp_path: Path) -> None:
    import serial

    runner = RigRunner(load_rig(write(tmp_path, GOOD)), tmp_path / "work")
    try:
        runner.start_exchange()
        device = runner.sockets / "box-a.tty"
        assert device.exists()
        port = serial.Serial(str(device), timeout=0.2)
        try:
            port.write(b"AT+VCID=1\r")
            bob = runner.pstn("+15550300003")
            assert bob.call("+15550100001")["to"] == "15550100001"
            seen = b""
            for _ in range(60):
                seen += port.read(256)
                if b"RING" in seen and b"NMBR" in seen:
                    break
            assert b"RING" in seen and b"NMBR = 15550300003" in seen
            calls = runner.exchange_status()["calls"]
            assert [(c["caller"], c["callee"], c["state"]) for c in calls] == [("15550300003", "15550100001",
                                                                                 "ringing")]
            bob.hang_up()
        finally:
            port.close()
        with pytest.raises(Exception, match="no PSTN phone"):
            runner.pstn("+15559999999")
    finally:
        runner.stop()


def test_voice_checks_between_two_pstn_phones_find_what_was_sent(tmp_path: Path) -> None:
    """verify() on the exchange alone (a phone-to-phone call): tones, DTMF and spoken digits both ways."""
    from roamline.hil.voicecheck import Probe, PstnEnd, verify

    data = with_("exchange", {"phones": [{"number": "+15550300003"}, {"number": "+15550400004",
                                                                       "answer_after": 1}]})
    runner = RigRunner(load_rig(write(tmp_path, data)), tmp_path / "work")
    try:
        runner.start_exchange()
        bob, dave = runner.pstn("+15550300003"), runner.pstn("+15550400004")
        bob.call("+15550400004")
        for _ in range(100):
            if runner.exchange_status()["calls"][0]["state"] == "connected":
                break
            time.sleep(0.1)
        a, b = PstnEnd(bob, workdir=tmp_path), PstnEnd(dave, workdir=tmp_path)
        tone = verify(a, b, Probe("tone", hz=1004, seconds=0.8))
        assert tone.ok and tone.event()["type"] == "media.verified", tone
        assert verify(b, a, Probe("dtmf", digits="2580")).ok
        b.listen_start()
        time.sleep(0.5)
        assert not content.check_tone(b.listen_stop(), 8000, 1004.0).ok  # nothing when nothing was sent
        if espeak_available():
            assert verify(b, a, Probe("speech", digits="4711")).ok
    finally:
        runner.stop()
