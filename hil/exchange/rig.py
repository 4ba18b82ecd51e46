"""Exchange descriptions as TOML (a rig file's ``[exchange]`` table, or a file of its own)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from roamline.hil.errors import UsageError
from roamline.hil.exchange.runner import ExchangeRunner
from roamline.wire.config import load_toml, parse
from roamline.wire.pydantic_config import Frozen


class LineSpec(Frozen):
    number: str = Field(pattern=r"^\+?[0-9]{3,15}$")
    modem: Literal["usr5637", "cx93001", "mt9234mu", "zoom3095", "usb56k"] = "cx93001"
    name: str | None = None
    path: str | None = None
    cid_timing: Literal["before", "between", "none"] = "between"
    disconnect: Literal["loop_drop", "busy", "reorder", "none"] = "loop_drop"
    dial_tone: bool = True
    call_waiting: bool = False


class PhoneSpec(Frozen):
    number: str = Field(pattern=r"^\+?[0-9]{3,15}$")
    name: str | None = None
    answer_after: int = Field(default=2, ge=0)  # 0: never answers
    busy: bool = False
    hangs_up: bool = False  # hangs up when the other party does (an answering point)


class ExchangeSpec(Frozen):
    time_scale: float = Field(default=1.0, gt=0)
    device_dir: str = "/tmp/roamline-exchange"
    control: str | None = None  # control socket path; default DEVICE_DIR/control.sock
    no_answer_timeout: float = Field(default=180.0, gt=0)
    calling_party_control_s: float = Field(default=0.0, ge=0, le=600)  # hold after the callee hangs up
    lines: tuple[LineSpec, ...] = ()
    phones: tuple[PhoneSpec, ...] = ()


def load(path: str | Path) -> ExchangeSpec:
    """An exchange from a file of its own or from a rig file's ``[exchange]`` table."""
    return load_toml(ExchangeSpec, path, table="exchange")


def parse_lines(text: str) -> tuple[LineSpec, ...]:
    """``NUMBER[:MODEM[:CID_TIMING[:DISCONNECT]]],...`` as typed on the command line."""
    out = []
    for item in filter(None, (x.strip() for x in text.split(","))):
        parts = item.split(":")
        keys = ("number", "modem", "cid_timing", "disconnect")
        if len(parts) > len(keys):
            raise UsageError(f"--lines item {item!r}: NUMBER[:MODEM[:CID_TIMING[:DISCONNECT]]]")
        out.append(parse(LineSpec, dict(zip(keys, parts, strict=False)), "--lines"))
    return tuple(out)


def parse_phones(text: str) -> tuple[PhoneSpec, ...]:
    """``NUMBER[:NAME],...``."""
    out = []
    for item in filter(None, (x.strip() for x in text.split(","))):
        number, _, name = item.partition(":")
        out.append(parse(PhoneSpec, {"number": number, "name": name or None}, "--phones"))
    return tuple(out)


def build(spec: ExchangeSpec) -> ExchangeRunner:
    from roamline.hil.exchange.core import Exchange

    runner = ExchangeRunner(Exchange(no_answer_timeout=spec.no_answer_timeout,
                                     calling_party_control_s=spec.calling_party_control_s),
                            time_scale=spec.time_scale, device_dir=spec.device_dir)
    for ln in spec.lines:
        runner.add_line(ln.number, ln.modem, path=ln.path, name=ln.name, cid_timing=ln.cid_timing,
                        disconnect=ln.disconnect, dial_tone=ln.dial_tone, call_waiting=ln.call_waiting)
    for ph in spec.phones:
        runner.add_phone(ph.number, name=ph.name, answer_after=ph.answer_after or None, busy=ph.busy,
                         hangs_up=ph.hangs_up)
    return runner
