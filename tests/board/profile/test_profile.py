from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from roamline.board.errors import PeerError, UsageError
from roamline.board.gpio import SlicPins, pin_factory
from roamline.board.profile import PROFILE_DIR, available_profiles, load_profile, parse_profile


def sim_data() -> dict[str, Any]:
    return tomllib.loads((PROFILE_DIR / "sim.toml").read_text())


def test_the_built_in_profiles_load() -> None:
    assert {"pi3-ag1171", "pi4-ag1171", "pi5-ag1171", "sim"} <= set(available_profiles())
    pi3 = load_profile("pi3-ag1171")
    assert pi3.pi_model == "pi3" and pi3.pin_factory in ("lgpio", "rpigpio")
    pi5 = load_profile("pi5-ag1171")
    assert pi5.pi_model == "pi5" and pi5.pin_factory == "lgpio"
    assert pi5.slic.ring_hz in (20, 25) and pi5.modem.usb == "0baf:0303"
    sim = load_profile("sim")
    assert sim.pin_factory == "mock" and sim.card_slots == 2
    assert sim.hook_timing.flash_max_ms == 800
    with pytest.raises(AttributeError):
        sim.name = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(pin_factory="rpigpio", pi_model="pi5"), "pin_factory: pi5 needs lgpio"),
        (lambda d: d["slic"].update(ring_mode_pin=17), "slic.ring_mode_pin: GPIO 17 is already used"),
        (lambda d: d["slic"].update(hook_pin=40), "GPIO 40 is not a header pin"),
        (lambda d: d["slic"].update(ring_hz=50), "slic.ring_hz: must be one of 20, 25"),
        (lambda d: d["slic"].update(hook_pin="17"), "slic.hook_pin: must be an integer"),
        (lambda d: d["slic"].pop("hook_pin"), "slic.hook_pin: missing"),
        (lambda d: d["slic"].update(hook_pn=3), "slic.hook_pn: unknown key"),
        (lambda d: d["modem"].update(usb="USR"), "modem.usb: must be vendor:product"),
        (lambda d: d["gps"].update(serial="/dev/ttyS0"), "gps: give exactly one"),
        (lambda d: d["hook"].update(flash_min_ms=80), "hook: pulse_break_max_ms must be below flash_min_ms"),
        (lambda d: d.update(card_readers=[]), "card_readers: at least one"),
        (lambda d: d["hook"].update(pulse_dial="yes"), "hook.pulse_dial: must be true or false"),
    ],
)
def test_bad_profiles_fail_with_one_line_naming_the_field(edit: Any, message: str) -> None:
    data = sim_data()
    edit(data)
    with pytest.raises(UsageError) as err:
        parse_profile(data)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_flash_from_80ms_is_fine_without_pulse_dialling() -> None:
    data = sim_data()
    data["hook"].update(flash_min_ms=80, pulse_dial=False)
    assert parse_profile(data).hook_timing.flash_min_ms == 80


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "b.toml"
    bad.write_text("name = [")
    with pytest.raises(UsageError, match=r"b\.toml: not valid TOML"):
        load_profile(bad)
    with pytest.raises(UsageError, match="no board profile 'pi3'"):
        load_profile("pi3")
    bad.write_text('name = "x"\n')
    with pytest.raises(UsageError, match=r"b\.toml: pi_model: missing"):
        load_profile(bad)


def test_pin_factories_are_chosen_by_name_through_gpiozero() -> None:
    assert isinstance(pin_factory("mock"), MockFactory)
    with pytest.raises(UsageError, match="unknown gpiozero pin factory"):
        pin_factory("bcm2835")
    with pytest.raises(PeerError, match="rpigpio"):  # RPi.GPIO refuses to run off a Pi
        pin_factory("rpigpio")


def test_slic_pins_follow_the_profile_levels() -> None:
    factory = MockFactory()
    pins = SlicPins(load_profile("sim"), factory)
    seen: list[bool] = []
    pins.on_hook_change = seen.append
    pins.open()
    pins.open()  # idempotent
    hook = factory.pin(17)
    hook.drive_high()
    hook.drive_low()
    hook.drive_high()
    assert seen == [True, False, True] and pins.off_hook()
    pins.set_ring(True, True)
    assert factory.pin(27).state is True and factory.pin(22).state is False  # reverse_level = low
    pins.set_leds(True, red=True)
    assert factory.pin(5).state and factory.pin(6).state
    pins.close()
    pins.close()
    assert factory.pin(27).state is False or factory.pin(27).function == "input"
    with pytest.raises(UsageError):
        pins.set_ring(False, False)
