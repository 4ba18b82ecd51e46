"""Brings a rig file to life: a registry process, enrolled boxes on their own pcscd, issued virtual cards.

Everything goes through the real commands (`roamline cloud …`, `roamline provision …`, `roamline box run`)
so the rig exercises what an operator and an installer would type. Each box gets its own private pcscd
(each box is its own Pi); cards are virtual PIV cards inserted into a box's vpcd reader in this process.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roamline.firmware.store import BoxStore
from roamline.hil.card.piv import Command, VirtualCard
from roamline.hil.card.vpcd import CardSocket
from roamline.hil.errors import UsageError
from roamline.hil.pcsc import PcscDaemon
from roamline.hil.proc import ManagedProcess, ProcessFailed
from roamline.hil.rig import RigSpec
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

    def reader_port(self) -> int:
        return self.pcscd.readers[0].port


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
    port: int = 0

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
                         str(self.cloud_dir), "--host", self.spec.cloud.host, "--port", str(port)],
            ready=r'"port": (\d+)')
        m = self.registry.start()
        assert m is not None
        self.port = int(m.group(1))

    def stop_registry(self) -> None:
        if self.registry is not None:
            self.registry.stop()

    def _token(self, kind: str) -> str:
        return roamline("cloud", "token", "issue", "--data", str(self.cloud_dir), "--kind", kind).strip()

    def where(self, number: str) -> list[dict[str, Any]]:
        return list(last_json(roamline("cloud", "where", "--data", str(self.cloud_dir), "--json", number)))

    # -- boxes and cards ----------------------------------------------------------------------------

    def enroll_boxes(self) -> None:
        ca = str(self.cloud_dir / "ca.pem")
        for spec in self.spec.boxes:
            out = self.workdir / "boxes" / spec.name
            args = ["--registry", f"{self.spec.cloud.host}:{self.port}", "--ca", ca,
                    "--token", self._token("box"), "--out", str(out), "--box-name", spec.name]
            args += [a for k, v in spec.civic.items() for a in ("--civic", f"{k}={v}")]
            info = last_json(roamline("provision", "box", "enroll", *args))
            pcscd = PcscDaemon(self.workdir / "pcscd" / spec.name, name=f"Roamline {spec.name}")
            proc = ManagedProcess(f"box {spec.name}", [*ROAMLINE, "--log-level", self.log_level, "box", "run",
                                                       "--config", info["config"]],
                                  env=pcscd.env, ready=r'"state": "running"')
            self.boxes[spec.name] = RunningBox(spec.name, info["box_id"], out, pcscd, proc)
        for card in self.spec.cards:
            path = self.workdir / "cards" / f"{card.name}.toml"
            path.parent.mkdir(parents=True, exist_ok=True)
            roamline("provision", "card", "issue", "--registry", f"{self.spec.cloud.host}:{self.port}",
                     "--ca", ca, "--token", self._token("card"), "--account", card.account,
                     "--out", str(path), "--pin", card.pin)
            self.cards[card.name] = load_cardfile(path)

    def start_boxes(self) -> None:
        for box in self.boxes.values():
            box.pcscd.start()
            box.process.start()

    def insert(self, card: str, box: str) -> None:
        """Put a card into a box's reader (taking it out of wherever it was)."""
        if card not in self.cards or box not in self.boxes:
            raise UsageError(f"no card {card!r} or box {box!r} in this rig")
        self.remove(card)
        sock = CardSocket(VirtualCard(self.cards[card]))
        sock.insert(self.boxes[box].reader_port())
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
        return len(self.boxes[box].process.output())

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
        self.stop_registry()

    def __enter__(self) -> RigRunner:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
