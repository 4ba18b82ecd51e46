"""Brings a rig file to life: a registry process, the telephone exchange, enrolled boxes on their own
pcscd with their lines and handsets, issued virtual cards.

Everything goes through the real commands (`roamline cloud …`, `roamline hil exchange run`, `roamline
provision …`, `roamline box run`) so the rig exercises what an operator and an installer would type. Each
box gets its own private pcscd (each box is its own Pi); cards are virtual PIV cards inserted into a
box's vpcd reader in this process. A box with a line gets the exchange's modem simulator pty as its
serial line device; a box with a phone gets the ``sim`` handset backend, whose control socket the rig
reaches through :meth:`RigRunner.handset`. PSTN phones on the exchange are driven through
:meth:`RigRunner.pstn` (the exchange's control socket).

Sockets live in a short private directory under /tmp (Unix socket paths are limited to 107 bytes).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roamline.firmware.store import BoxStore
from roamline.hil.card.piv import Command, VirtualCard
from roamline.hil.card.vpcd import CardSocket
from roamline.hil.errors import UsageError
from roamline.hil.exchange.control import request as exchange_request
from roamline.hil.handset_control import HandsetClient
from roamline.hil.netpath import NetPathProcess
from roamline.hil.pcsc import PcscDaemon
from roamline.hil.proc import ManagedProcess, ProcessFailed
from roamline.hil.rig import RigSpec, exchange_number
from roamline.provisioning.cardfile import CardFile, load_cardfile

log = logging.getLogger(__name__)

ROAMLINE = [sys.executable, "-m", "roamline.cli.main"]


def roamline(*args: str, env: dict[str, str] | None = None) -> str:
    """Run one `roamline` command to completion; its stdout, or ProcessFailed with its one-line reason."""
    done = subprocess.run([*ROAMLINE, *args], capture_output=True, text=True, env=env, check=False,
                          timeout=60)
    if done.returncode != 0:
        raise ProcessFailed(f"roamline {' '.join(args[:3])}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def last_json(text: str) -> Any:
    return json.loads(text.strip().splitlines()[-1])


@dataclass
class RunningBox:
    name: str
    box_id: str
    dir: Path
    pcscd: PcscDaemon
    process: ManagedProcess
    line_device: Path | None = None
    handset_control: Path | None = None

    def reader_port(self, taken: set[int] | frozenset[int] = frozenset(), readers: int = 1) -> int:
        """The vpcd port of this box's first reader (of its first ``readers``) no card is in."""
        for r in self.pcscd.readers[:readers]:
            if r.port not in taken:
                return r.port
        raise UsageError(f"every card reader of {self.name} holds a card ({readers} configured)")


class PstnPhone:
    """A telephone on the simulated exchange, driven through the exchange's control socket."""

    def __init__(self, control: Path, number: str) -> None:
        self.control = control
        self.number = exchange_number(number)

    def _req(self, req: dict[str, Any]) -> dict[str, Any]:
        reply = exchange_request(self.control, req)
        if not reply.get("ok"):
            raise UsageError(f"PSTN phone {self.number} {req['op']}: {reply.get('error')}")
        return reply

    def call(self, to: str, *, presentation: str = "number+name", cadence: tuple[float, ...] | None = None
             ) -> dict[str, Any]:
        """Dial ``to`` (E.164 or exchange digits) from this phone."""
        req: dict[str, Any] = {"op": "call", "from": self.number, "to": exchange_number(to),
                               "presentation": presentation}
        if cadence:
            req["cadence"] = list(cadence)
        return self._req(req)

    def answer(self) -> dict[str, Any]:
        return self._req({"op": "answer", "number": self.number})

    def hang_up(self) -> dict[str, Any]:
        return self._req({"op": "hangup", "number": self.number})

    def dtmf(self, digits: str) -> dict[str, Any]:
        return self._req({"op": "dtmf", "number": self.number, "digits": digits})

    def play(self, wav: str | Path) -> dict[str, Any]:
        """Say an 8 kHz mono 16-bit WAV into the call."""
        return self._req({"op": "play", "number": self.number, "wav": str(wav)})

    def record(self, wav: str | Path) -> dict[str, Any]:
        """Write everything this phone has heard while off-hook so far to ``wav`` (8 kHz)."""
        return self._req({"op": "record", "number": self.number, "wav": str(wav)})

    def state(self) -> str | None:
        reply = self._req({"op": "status"})
        for ep in reply["endpoints"]:
            if ep["kind"] == "phone" and ep["number"] == self.number:
                return str(ep.get("state")) if ep.get("state") is not None else None
        return None


@dataclass
class RigRunner:
    spec: RigSpec
    workdir: Path
    log_level: str = "info"
    boxes: dict[str, RunningBox] = field(default_factory=dict)
    cards: dict[str, CardFile] = field(default_factory=dict)
    card_sockets: dict[str, CardSocket] = field(default_factory=dict)
    card_place: dict[str, str] = field(default_factory=dict)
    copies: list[CardSocket] = field(default_factory=list)
    registry: ManagedProcess | None = None
    exchange: ManagedProcess | None = None
    port: int = 0
    sos_sip: str | None = None  # the registry's emergency SIP address (host:port), once it is serving
    sos_sips: str | None = None  # and its SIP-over-TLS address, when it serves TLS
    run_dir: Path | None = None  # short private directory for sockets and pty links
    registry_args: tuple[str, ...] = ()  # more `cloud serve` options (e.g. --smtp-host, --media-silence 3)
    box_link: dict[str, Any] = field(default_factory=dict)  # [link] settings for every box.toml
    box_gpsd: dict[str, str] = field(default_factory=dict)  # box name → the gpsd (host:port) it reads
    via_paths: bool = False  # each box reaches the registry through its own net path process (cut-able)
    idle_boxes: frozenset[str] = frozenset()  # enrolled, but no box process is run (a test drives them)
    paths: dict[str, NetPathProcess] = field(default_factory=dict)

    @property
    def sockets(self) -> Path:
        if self.run_dir is None:
            self.run_dir = Path(tempfile.mkdtemp(prefix="rl-", dir="/tmp"))
        return self.run_dir

    @property
    def exchange_control(self) -> Path:
        return self.sockets / "exchange.sock"

    @property
    def cloud_dir(self) -> Path:
        return self.workdir / "cloud"

    # -- the cloud --------------------------------------------------------------------------------

    def start_cloud(self) -> None:
        roamline("cloud", "ca", "init", "--data", str(self.cloud_dir))
        for account in self.spec.accounts:
            numbers = [a for n in account.numbers for a in ("--number", n)]
            roamline("cloud", "account", "create", "--data", str(self.cloud_dir), "--name", account.name,
                     "--id", account.name, *numbers)
        self.serve_registry(self.spec.cloud.port)

    def serve_registry(self, port: int = 0) -> None:
        self.registry = ManagedProcess(
            "registry", [*ROAMLINE, "--log-level", self.log_level, "cloud", "serve", "--data",
                         str(self.cloud_dir), "--host", self.spec.cloud.host, "--port", str(port),
                         *self.registry_args],
            ready=r'"port": (\d+)')
        m = self.registry.start()
        assert m is not None
        self.port = int(m.group(1))
        sip = re.search(r'"sos_sip": "([^"]+)"', m.string)
        self.sos_sip = sip.group(1) if sip else None  # the emergency route's SIP address (host:port)
        sips = re.search(r'"sos_sips": "([^"]+)"', m.string)
        self.sos_sips = sips.group(1) if sips else None  # its SIP-over-TLS listener (--sos-tls-port)

    def stop_registry(self) -> None:
        if self.registry is not None:
            self.registry.stop()

    def restart_registry(self, down_s: float = 0.0) -> None:
        """Stop the registry process (SIGTERM, as an operator's restart) and start a new one on the same
        port and data directory after ``down_s`` seconds."""
        self.stop_registry()
        time.sleep(down_s)
        self.serve_registry(self.port)

    def _token(self, kind: str) -> str:
        return roamline("cloud", "token", "issue", "--data", str(self.cloud_dir), "--kind", kind).strip()

    def where(self, number: str) -> list[dict[str, Any]]:
        return list(last_json(roamline("cloud", "where", "--data", str(self.cloud_dir), "--json", number)))

    def calls(self, number: str | None = None) -> list[dict[str, Any]]:
        """The registry's call records (`roamline cloud calls --json`), newest last."""
        extra = ["--number", number] if number is not None else []
        return list(last_json(roamline("cloud", "calls", "--data", str(self.cloud_dir), "--json", *extra)))

    # -- the telephone exchange ---------------------------------------------------------------------

    def exchange_file(self) -> dict[str, Any]:
        """The ``[exchange]`` table ``roamline hil exchange run --rig`` takes, from the rig's lines/phones."""
        ex = self.spec.exchange
        assert ex is not None
        lines = [{"number": exchange_number(b.line.number), "modem": b.line.modem, "name": b.name,
                  "path": str(self.sockets / f"{b.name}.tty"), "cid_timing": b.line.cid_timing,
                  "disconnect": b.line.disconnect, "call_waiting": b.line.call_waiting}
                 for b in self.spec.boxes if b.line is not None]
        phones: list[dict[str, Any]] = []
        for p in ex.phones:
            phone: dict[str, Any] = {"number": exchange_number(p.number), "answer_after": p.answer_after,
                                     "busy": p.busy}
            if p.name is not None:
                phone["name"] = p.name
            phones.append(phone)
        for number in ex.answering_points:
            phones.append({"number": number, "name": "PSAP", "answer_after": 1, "busy": False,
                           "hangs_up": True})
        return {"exchange": {"time_scale": ex.time_scale, "device_dir": str(self.sockets),
                             "control": str(self.exchange_control), "no_answer_timeout": ex.no_answer_timeout,
                             "calling_party_control_s": ex.calling_party_control_s,
                             "lines": lines, "phones": phones}}

    def start_exchange(self) -> None:
        import tomli_w

        if self.spec.exchange is None or self.exchange is not None:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.workdir / "exchange.toml"
        path.write_text(tomli_w.dumps(self.exchange_file()), encoding="utf-8")
        argv = [*ROAMLINE, "--log-level", self.log_level, "hil", "exchange", "run", "--rig", str(path)]
        self.exchange = ManagedProcess("exchange", argv, ready=r'"ready": true')
        self.exchange.start()

    def stop_exchange(self) -> None:
        if self.exchange is not None:
            self.exchange.stop()
            self.exchange = None

    def pstn(self, number: str) -> PstnPhone:
        """A PSTN phone of the rig's exchange, by its E.164 number."""
        ex = self.spec.exchange
        if ex is None or number not in {p.number for p in ex.phones}:
            raise UsageError(f"no PSTN phone {number} in this rig")
        return PstnPhone(self.exchange_control, number)

    def exchange_status(self) -> dict[str, Any]:
        return exchange_request(self.exchange_control, {"op": "status"})

    # -- boxes and cards ----------------------------------------------------------------------------

    def box_config(self, name: str, path: Path) -> None:
        """Add the rig's peripherals to the box.toml enrollment wrote: country, line, handset."""
        import tomli_w

        spec = self.spec.box(name)
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        data["country"] = spec.country
        box = self.boxes[name]
        if self.box_link:
            data["link"] = {**data.get("link", {}), **self.box_link}
        if name in self.box_gpsd:
            data["location"] = {**data.get("location", {}), "gpsd": self.box_gpsd[name]}
        if self.via_paths:
            net = self.paths[name] = NetPathProcess((self.spec.cloud.host, self.port)).open()
            data["registry"] = {**data["registry"], "port": net.port}
        if spec.line is not None:
            box.line_device = self.sockets / f"{name}.tty"
            data["line"] = {"backend": "serial", "device": str(box.line_device), "profile": spec.line.modem,
                            "number": spec.line.number}
        if spec.phone is not None:
            box.handset_control = self.sockets / f"{name}.handset"
            options = {"control": str(box.handset_control),
                       "seed": "none" if spec.phone.seed is None else str(spec.phone.seed)}
            data["handset"] = {"backend": spec.phone.backend, "options": options}
        path.write_text(tomli_w.dumps(data), encoding="utf-8")

    def enroll_boxes(self) -> None:
        ca = str(self.cloud_dir / "ca.pem")
        for spec in self.spec.boxes:
            out = self.workdir / "boxes" / spec.name
            args = ["--registry", f"{self.spec.cloud.host}:{self.port}", "--ca", ca,
                    "--token", self._token("box"), "--out", str(out), "--box-name", spec.name]
            args += [a for k, v in spec.civic.items() for a in ("--civic", f"{k}={v}")]
            if spec.point is not None:
                args += ["--point", f"{spec.point[0]},{spec.point[1]}"]
            if spec.line is not None:
                args += ["--line-number", spec.line.number]
            args += [a for c in spec.emergency_contacts for a in ("--emergency-contact", c)]
            info = last_json(roamline("provision", "box", "enroll", *args))
            pcscd = PcscDaemon(self.workdir / "pcscd" / spec.name, name=f"Roamline {spec.name}")
            proc = ManagedProcess(f"box {spec.name}", [*ROAMLINE, "--log-level", self.log_level, "box", "run",
                                                       "--config", info["config"]],
                                  env=pcscd.env, ready=r'"state": "running"')
            self.boxes[spec.name] = RunningBox(spec.name, info["box_id"], out, pcscd, proc)
            self.box_config(spec.name, Path(info["config"]))
        for card in self.spec.cards:
            path = self.workdir / "cards" / f"{card.name}.toml"
            path.parent.mkdir(parents=True, exist_ok=True)
            roamline("provision", "card", "issue", "--registry", f"{self.spec.cloud.host}:{self.port}",
                     "--ca", ca, "--token", self._token("card"), "--account", card.account,
                     "--out", str(path), "--pin", card.pin)
            self.cards[card.name] = load_cardfile(path)
        self.grant_lines()

    def grant_lines(self) -> None:
        """Each account's rights on host lines (the rig's ``lines``): `roamline cloud line grant`."""
        for account in self.spec.accounts:
            for line in account.lines:
                roamline("cloud", "line", "grant", "--data", str(self.cloud_dir), account.name, line)

    def start_boxes(self) -> None:
        """Start every box process (and the exchange first, whose ptys are the boxes' lines)."""
        self.start_exchange()
        for name, box in self.boxes.items():
            if name in self.idle_boxes:
                continue
            box.pcscd.start()
            box.process.start()

    def handset(self, box: str, ready_timeout: float = 10.0) -> HandsetClient:
        """The simulated phone attached to ``box`` (lift, dial, speak, listen, rings), once the box
        process serves its control socket."""
        b = self.boxes.get(box)
        if b is None or b.handset_control is None:
            raise UsageError(f"box {box!r} has no simulated phone in this rig")
        client = HandsetClient(b.handset_control)
        client.wait_ready(timeout=ready_timeout)
        return client

    def insert(self, card: str, box: str) -> None:
        """Put a card into a box's reader (taking it out of wherever it was)."""
        if card not in self.cards or box not in self.boxes:
            raise UsageError(f"no card {card!r} or box {box!r} in this rig")
        self.remove(card)
        taken = {s.port for c, s in self.card_sockets.items() if self.card_place.get(c) == box}
        port = self.boxes[box].reader_port({p for p in taken if p is not None}, self.spec.box(box).readers)
        sock = CardSocket(VirtualCard(self.cards[card]))
        sock.insert(port)
        self.card_sockets[card], self.card_place[card] = sock, box

    def insert_copy(self, card: str, box: str, *, yank_when: Callable[[Command], bool] | None = None
                    ) -> CardSocket:
        """A second physical copy of ``card`` (same keys) into ``box`` — a cloned card, for race tests —
        optionally pulled out at the first command matching ``yank_when``. The caller removes it
        (``sock.remove()``); ``stop`` removes it too."""
        sock = CardSocket(VirtualCard(self.cards[card]))
        if yank_when is not None:
            sock.yank_when(yank_when)
        sock.insert(self.boxes[box].reader_port())
        self.copies.append(sock)
        return sock

    def remove(self, card: str) -> None:
        sock = self.card_sockets.pop(card, None)
        self.card_place.pop(card, None)
        if sock is not None:
            sock.remove()

    def box_log_mark(self, box: str) -> int:
        return self.boxes[box].process.mark()

    def wait_box_event(self, box: str, event: str, after: int, timeout: float = 20.0) -> str:
        """Wait for the box to log ``event``; returns the line."""
        m = self.boxes[box].process.wait_for(rf" {event}( |$)", timeout=timeout, after=after)
        return m.string

    def _box_store(self, box: str) -> BoxStore:
        store = BoxStore(self.boxes[box].dir / "data" / "box.db")
        store.open()
        return store

    def box_holders(self, box: str) -> list[str]:
        """Holders the box's local store caches right now (read from its database)."""
        store = self._box_store(box)
        try:
            return store.holders()
        finally:
            store.close()

    def box_events(self, box: str, kind: str) -> list[dict[str, Any]]:
        store = self._box_store(box)
        try:
            return store.events(kind)
        finally:
            store.close()

    def wait_boxes_settled(self, timeout: float = 20.0) -> None:
        """Until every box has seen each card that went in come out again (per its own event log)."""
        deadline = time.monotonic() + timeout
        for box in self.boxes:
            if box in self.idle_boxes:
                continue
            while True:
                ins, outs = (len(self.box_events(box, k)) for k in ("card-inserted", "card-removed"))
                if ins == outs:
                    break
                if time.monotonic() > deadline:
                    raise ProcessFailed(f"{box}: {ins} cards went in but {outs} came out")
                time.sleep(0.05)

    def wait_where(self, number: str, predicate: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            entries = self.where(number)
            if predicate(entries) or time.monotonic() > deadline:
                return entries
            time.sleep(0.1)

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.start_cloud()
        self.start_exchange()
        self.enroll_boxes()
        self.start_boxes()

    def stop(self) -> None:
        for card in list(self.card_sockets):
            self.remove(card)
        for sock in self.copies:
            sock.remove()
        for box in self.boxes.values():
            box.process.stop()
            box.pcscd.stop()
        self.stop_exchange()
        self.stop_registry()
        for path in self.paths.values():
            path.close()
        self.paths.clear()
        if self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = None

    def __enter__(self) -> RigRunner:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
