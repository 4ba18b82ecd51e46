"""The box's one runtime: builds every part from BoxConfig + the board profile and owns every task and
thread, then feeds the box core and carries out its actions.

Tasks (one ``asyncio.TaskGroup``): the core loop (events in, actions out, timers at the core's
deadline), the link client, one task per link request the core asked for. Threads, each owned here and
stopped on the way out: the store thread (every SQLite call, in order), the card thread (PC/SC reads and
signatures; the ReaderLoop has its own watcher thread), the line pump (the blocking modem driver:
operations and pumping, events back to the loop), and the handset runner's control and audio threads.
Nothing blocking runs on the event loop. Backends come from ``firmware.backends`` by name.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import json
import logging
import os
import queue
import secrets
import select
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from roamline.firmware import backends
from roamline.firmware.card import events as card_ev
from roamline.firmware.card.errors import CardError
from roamline.firmware.config import BoxConfig, load_box_config
from roamline.firmware.core import events as ev
from roamline.firmware.core.box import READBACK_PROMPT, BoxCore, CoreConfig
from roamline.firmware.errors import UsageError
from roamline.firmware.link.client import BoxIdentity, LinkClient, RegistryEndpoint
from roamline.firmware.store import BoxStore
from roamline.wire import identity, messages
from roamline.wire.clock import Clock, SystemClock
from roamline.wire.errors import BoxRevoked, LinkClosed, PeerError, RequestTimeout
from roamline.wire.messages import Envelope, Welcome
from roamline.wire.session import Backoff

TTY_MIN_DELAY_MS = 120.0  # the emergency flow's least jitter-buffer delay (TTY-safe audio)

log = logging.getLogger(__name__)
T = TypeVar("T")
SLOT_CARD_AUTH = 0x9E


def load_identity(config: BoxConfig) -> BoxIdentity:
    try:
        key = identity.load_private_key_pem(config.identity.key.read_bytes())
        cert_pem = config.identity.cert.read_text(encoding="ascii")
    except OSError as exc:
        raise UsageError(f"box identity: {exc.strerror}: {exc.filename}") from None
    return BoxIdentity(key=key, cert_pem=cert_pem)


def endpoint(config: BoxConfig) -> RegistryEndpoint:
    try:
        ca_pem = config.registry.ca.read_bytes()
    except OSError as exc:
        raise UsageError(f"registry CA: {exc.strerror}: {exc.filename}") from None
    r = config.registry
    return RegistryEndpoint(host=r.host, port=r.port, server_name=r.server_name, ca_pem=ca_pem)


class LineBridge:
    """The blocking modem driver on its own thread: operations from a queue, pumping in between,
    events (and each operation's LineOpDone after the events it caused) to ``deliver``."""

    def __init__(self, port: backends.LinePort, deliver: Callable[[Any], None]) -> None:
        self.port = port
        self._deliver = deliver
        self._ops: queue.Queue[tuple[str, str, Callable[[bool], None] | None] | None] = queue.Queue()
        self._voice: queue.Queue[bytes] = queue.Queue(maxsize=50)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.ready = threading.Event()
        self.error: str | None = None
        self.on_voice: Callable[[bytes], None] | None = None
        self._tx_source: Callable[[], bytes] | None = None  # 20 ms of voice for the modem, on a clock
        self._pending_play: object | None = None  # a play() waiting for the modem to turn to transmit
        self._next_tx: float | None = None
        self._held_tx: bytes | None = None  # a frame the modem could not take yet (no transmit stream)
        self._tx_of: Callable[[], bytes] | None = None  # the source _held_tx came from
        self._wake_r, self._wake_w = -1, -1  # a pipe: an operation wakes the idle pump at once

    @property
    def tx_source(self) -> Callable[[], bytes] | None:
        return self._tx_source

    @tx_source.setter
    def tx_source(self, source: Callable[[], bytes] | None) -> None:
        """What the far end hears from now on (a play() still waiting for its turn is dropped)."""
        self._pending_play = None
        self._tx_source = source

    def play(self, source: Callable[[], bytes]) -> None:
        """The far end hears ``source`` (a prompt, a tone) on the answered call. A half-duplex modem (no
        +VTR) answers in voice receive: it is turned to voice transmit (+VTX) first and ``source`` starts
        once it is (sent before, the audio would go nowhere); full duplex starts at once."""
        if self.port.session.can_bridge:
            self.tx_source = source
            return
        self.tx_source = None
        token = self._pending_play = object()

        def turned(ok: bool) -> None:  # the pump thread, before its next pump
            if self._pending_play is not token:
                return  # something else was connected to the line meanwhile
            self._pending_play = None
            if ok:
                self._tx_source = source
            else:  # the call went while turning (the core hears the line end)
                log.warning("line-transmit-failed", extra={"fields": {}})

        self.do("transmit", then=turned)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="line-pump", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._ops.put(None)
            self._wake()
            self._thread.join(timeout=10)
            self._thread = None

    def do(self, op: str, number: str = "", then: Callable[[bool], None] | None = None) -> None:
        """Queue ``op`` ("dial" with ``number``, "answer", "hangup", "flash", "transmit", "receive");
        ``then(ok)`` runs on the pump thread once it is done (before the next pump)."""
        self._ops.put((op, number, then))
        self._wake()

    def _wake(self) -> None:
        if self._wake_w >= 0:
            try:
                os.write(self._wake_w, b"x")
            except OSError:  # closed while stopping, or full (it is awake anyway)
                pass

    def send_voice(self, data: bytes) -> None:
        try:
            self._voice.put_nowait(data)
        except queue.Full:  # the modem is behind: drop, never block the audio thread
            pass

    def _run(self) -> None:
        from roamline.firmware.line import events as line_ev

        port = self.port
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        try:
            port.open()
            port.kick()
            if port.session.profile is None:
                port.identify()
            port.initialise()
        except Exception as exc:  # any driver failure at start: reported, the box runs without a line
            self.error = f"{type(exc).__name__}: {exc}"
            log.error("line-unavailable", extra={"fields": {"reason": self.error}})
            self.ready.set()
            return
        self.ready.set()
        try:
            while not self._stop.is_set():
                try:
                    self._step(port, line_ev)
                except Exception:  # a bug in one step must not stop the pump: 911 needs the line
                    log.exception("line-pump-step-failed")
                    time.sleep(0.02)
        finally:
            try:
                port.hangup()
            except Exception:  # going away: the modem is reset at the next start anyway
                pass
            port.close()
            for fd in (self._wake_r, self._wake_w):
                os.close(fd)
            self._wake_r = self._wake_w = -1

    def _step(self, port: backends.LinePort, line_ev: Any) -> None:
        from roamline.firmware.line.errors import CallFailed, LineUsageError, ModemError

        try:
            item = self._ops.get_nowait()
        except queue.Empty:
            item = None
        if item is not None:
            op, number, then = item
            ok, result = True, "ok"
            try:
                if op == "dial":
                    port.dial(number)
                else:
                    {"answer": port.answer, "hangup": port.hangup, "flash": port.flash,
                     "transmit": port.transmit, "receive": port.receive}[op]()
            except (CallFailed, ModemError) as exc:
                ok, result = False, str(exc)
            except Exception as exc:  # a driver bug must not stop the pump (911 needs the line)
                log.exception("line-op-failed", extra={"fields": {"op": op}})
                ok, result = False, f"{type(exc).__name__}: {exc}"
            try:
                for e in port.pump(0):
                    self._event(e, line_ev)
            finally:
                self._deliver(ev.LineOpDone(op, ok, result))  # the core always hears how it went
                if then is not None:
                    then(ok)
            return
        while True:
            try:
                data = self._voice.get_nowait()
            except queue.Empty:
                break
            try:
                port.send_voice(data)
            except LineUsageError:  # the stream just ended (a hang-up): the mouthpiece audio is dropped
                self._voice = queue.Queue(maxsize=50)
                break
        src = self.tx_source
        if src is not self._tx_of:
            self._tx_of, self._held_tx = src, None  # a new source: a frame held for the old one is dropped
        if src is None:
            self._next_tx = None
        else:
            now = time.monotonic()
            if self._next_tx is None or now - self._next_tx > 0.2:
                self._next_tx = now
            while self._next_tx <= now:
                frame = self._held_tx if self._held_tx is not None else src()
                try:
                    port.send_voice(frame)
                except LineUsageError:  # no transmit stream (yet, or any more): keep the frame for it
                    self._held_tx = frame  # (a prompt's first words are not lost while the stream starts)
                    self._next_tx = now + 0.02
                    break
                self._held_tx = None
                self._next_tx += 0.02
        if src is None and port.session.core.voice is None and not port.session.busy:
            self._idle_wait(port, 0.25)  # nothing streams: sleep until input or an operation
            timeout = 0.0
        else:
            timeout = 0.01 if src is not None else 0.02
        for e in port.pump(timeout):
            self._event(e, line_ev)

    def _idle_wait(self, port: backends.LinePort, timeout: float) -> None:
        fd = port.fileno()
        wait = [self._wake_r] + ([fd] if fd is not None else [])
        deadline = port.session.deadline()
        if deadline is not None:
            timeout = max(0.0, min(timeout, deadline - time.monotonic()))
        if fd is None:
            timeout = min(timeout, 0.02)
        ready = select.select(wait, [], [], timeout)[0]
        if self._wake_r in ready:
            try:
                os.read(self._wake_r, 4096)
            except OSError:
                pass

    def _event(self, e: Any, line_ev: Any) -> None:
        if isinstance(e, line_ev.VoiceData):
            if self.on_voice is not None:
                self.on_voice(e.data)
            return
        if isinstance(e, (line_ev.StateChanged, line_ev.Noise, line_ev.ResultCode, line_ev.CommandDone)):
            return
        self._deliver(e)


class VoiceQueue:
    """A BlockSource fed from another thread (far-end audio for the earpiece); silence when empty."""

    def __init__(self, played: Callable[[Any], None] | None = None) -> None:
        """``played``: told each block given to the earpiece (the echo path's far end)."""
        import numpy as np

        self._np = np
        self._buf = np.zeros(0, dtype=np.int16)
        self._lock = threading.Lock()
        self._played = played

    @property
    def finished(self) -> bool:
        return False

    def push(self, samples: Any) -> None:
        with self._lock:
            self._buf = self._np.concatenate([self._buf[-8000:], samples])

    def read(self, n: int) -> Any:
        with self._lock:
            out = self._np.zeros(n, dtype=self._np.int16)
            part = self._buf[:n]
            out[:len(part)] = part
            self._buf = self._buf[n:]
        if self._played is not None:
            self._played(out)
        return out


class Chain:
    """Plays one source after another (a spoken reason, then reorder)."""

    def __init__(self, *sources: Any) -> None:
        self._s = list(sources)

    @property
    def finished(self) -> bool:
        return all(s.finished for s in self._s)

    def read(self, n: int) -> Any:
        while len(self._s) > 1 and self._s[0].finished:
            self._s.pop(0)
        return self._s[0].read(n)


class TeeAudio:
    """Wraps the handset's audio device: what the mouthpiece gives goes to ``on_mic`` too."""

    def __init__(self, device: Any) -> None:
        self._d = device
        self.rate = device.rate
        self.on_mic: Callable[[Any], None] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._d, name)

    def read(self, n: int) -> Any:
        x = self._d.read(n)
        cb = self.on_mic
        if cb is not None:
            cb(x)
        return x


def request_failed(key: str, exc: PeerError) -> ev.RequestFailed:
    """What the core hears when the request under ``key`` failed: a revoked box is refused (it must not
    look like "registry unreachable" and be retried), a lost link or timeout is unreachable, any other
    peer error is a refusal with the registry's reason."""
    if isinstance(exc, BoxRevoked):
        return ev.RequestFailed(key, "box revoked", unreachable=False)
    if isinstance(exc, (LinkClosed, RequestTimeout)):
        return ev.RequestFailed(key, str(exc) or type(exc).__name__, unreachable=True)
    return ev.RequestFailed(key, str(exc), unreachable=False)


def _prompt_keys(emergency: tuple[str, ...] | list[str]) -> tuple[str, str]:
    """The moved prompt's confirm and next keys: 1 and 2 unless the country's emergency strings start
    with one of them (112), so that an emergency string keyed during the prompt is dialled, not taken."""
    free = [k for k in "1234567890" if not any(e.startswith(k) for e in emergency)]
    return free[0], free[1]


class BoxRuntime:
    def __init__(self, config: BoxConfig, *, clock: Clock | None = None,
                 print_state: Callable[[dict[str, Any]], None] | None = None) -> None:
        """No I/O here: files, devices and the network are touched in ``run``."""
        self.config = config
        self.clock = clock or SystemClock()
        self._print = print_state or (lambda d: print(json.dumps(d), flush=True))
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._db = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="box-store")
        self._cardx = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="box-card")
        self.core: BoxCore | None = None
        self.link: LinkClient | None = None
        self.readers: Any = None
        self.line: LineBridge | None = None
        self.handset: Any = None
        self._handset_ports: Any = None
        self._prompts: dict[str, Any] = {}
        self._tones: Any = None
        self._cloud_requests: dict[str, Envelope] = {}
        self._bridge_handset_line = False
        self._earpiece: VoiceQueue | None = None
        # the local handset ⇄ line bridge's echo paths (firmware.media.EchoPath, as on relayed legs):
        # the line's hybrid echo of the mouthpiece, and the earpiece's echo in the mouthpiece
        self._line_echo: Any = None
        self._ear_echo: Any = None
        self._tee: TeeAudio | None = None
        self._law = "ulaw"
        self._tasks: set[asyncio.Task[Any]] = set()
        self._legs: dict[int, Any] = {}  # flow id → firmware.media.MediaLeg
        self._leg_calls: dict[int, str] = {}
        self._handset_leg: Any = None
        self._line_leg: Any = None
        self.where: Any = None  # firmware.location.service.LocationService, built in run()
        self._running: dict[str, Any] | None = None  # the "running" line, once every peripheral is open
        # voicemail on the line (core RecordLine / StopRecording): the message being recorded, those whose
        # greeting is still being made, and stops that came while it was
        self._recording: _Recording | None = None
        self._rec_lock = threading.Lock()
        self._vm_starting: set[str] = set()
        self._vm_stopped: dict[str, str] = {}
        self._greeting_rec: _MicRecording | None = None  # *98 *: the holder's new greeting
        self._started = 0.0
        self._ready_told = False
        self._state: Any = None  # firmware.service_state.ServiceState, built in run()
        self._publisher: Any = None  # firmware.state_file.StatePublisher
        self._pcsc_up = False
        self._readers_seen: set[str] = set()

    # -- feeding the core from any thread ----------------------------------------------------------------
    def post(self, event: Any) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._queue.put_nowait, event)

    async def _store(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._db, lambda: fn(*args, **kw))

    # -- the published state (for `box health`) ---------------------------------------------------------
    def _publish(self, change: Callable[[Any], Any] | None = None) -> None:
        """Event loop: change the service state (a function of it), stamp the heartbeat, hand it to the
        publisher's thread (which never blocks this loop)."""
        state = self._state
        if state is None or self._publisher is None:
            return
        if change is not None:
            state = change(state)
        self._state = state = state.beat(time.monotonic(), self.clock.wall())
        self._publisher.publish(state)

    def _peripheral(self, name: str, ok: bool, detail: str, *, required: bool = True) -> None:
        wall = self.clock.wall()
        self._publish(lambda s: s.with_peripheral(name, ok, detail, wall, required=required))

    async def _start_state(self, box_id: str) -> None:
        import importlib.metadata

        import roamline.firmware
        from roamline.firmware.service_state import Firmware, ServiceState, slot_of
        from roamline.firmware.state_file import StatePublisher, boot_id

        cfg = self.config
        try:
            package = importlib.metadata.version("roamline")
        except importlib.metadata.PackageNotFoundError:
            package = ""
        assert cfg.state.file is not None  # resolved by load_box_config
        self._publisher = StatePublisher(cfg.state.file)
        here = await asyncio.to_thread(lambda: str(Path(roamline.firmware.__file__).resolve()))
        self._state = ServiceState(
            pid=os.getpid(), boot_id=await asyncio.to_thread(boot_id), box_id=box_id,
            started_at=self.clock.wall(), heartbeat_s=cfg.state.heartbeat_s,
            firmware=Firmware(package=package, slot=os.environ.get("ROAMLINE_SLOT") or slot_of(here),
                              version=os.environ.get("ROAMLINE_VERSION") or None))
        self._publish()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.config.state.heartbeat_s)
            self._publish()

    def _observe(self, event: Any) -> None:
        """The card readers' state, from the events the core is given."""
        if not isinstance(event, (card_ev.PcscAvailable, card_ev.PcscUnavailable, card_ev.ReaderAdded,
                                  card_ev.ReaderLost)):
            return
        if isinstance(event, card_ev.PcscUnavailable):
            self._pcsc_up, self._readers_seen = False, set()
        elif isinstance(event, card_ev.PcscAvailable):
            self._pcsc_up = True
        elif isinstance(event, card_ev.ReaderAdded):
            self._readers_seen.add(event.reader)
        else:
            self._readers_seen.discard(event.reader)
        missing = [r for r in self.config.card.readers if r not in self._readers_seen]
        if not self._pcsc_up:
            self._peripheral("card", False, "pcscd not answering")
        elif missing:
            self._peripheral("card", False, "readers missing: " + ", ".join(missing))
        else:
            self._peripheral("card", True, f"{len(self._readers_seen)} reader(s)")

    def _gps_state(self, ok: bool, detail: str) -> None:
        self._peripheral("gps", ok, detail, required=False)

    # -- building ---------------------------------------------------------------------------------------
    def _build(self, board: Any, ctx: backends.BackendContext, box: BoxIdentity) -> None:
        cfg = self.config
        line_name = backends.chosen("line", cfg, board)
        if line_name != backends.NONE:
            port = backends.factory("line", line_name)(ctx)
            self.line = LineBridge(port, self.post)
            self.line.on_voice = self._line_voice
        card_name = backends.chosen("card", cfg, board)
        if card_name != backends.NONE:
            from roamline.firmware.card.reader import ReaderLoop

            readers = cfg.card.readers or None
            self.readers = ReaderLoop(backends.factory("card", card_name)(ctx), self.post, clock=self.clock,
                                      readers=readers)
        hs_name = backends.chosen("handset", cfg, board)
        if hs_name != backends.NONE:
            self._handset_ports = backends.factory("handset", hs_name)(ctx)
        lk = cfg.link
        self.link = LinkClient(endpoint(cfg), box, on_up=self._on_up, on_push=self._on_push,
                               keepalive_s=lk.keepalive_s, request_timeout_s=lk.request_timeout_s,
                               backoff=Backoff(base_s=lk.backoff_initial_s, cap_s=lk.backoff_max_s),
                               on_down=self._on_down, on_datagram=self._datagram)

    def _open_handset(self, board: Any) -> None:
        from roamline.board.gpio import SlicPins
        from roamline.firmware.handset.controller import HandsetController
        from roamline.firmware.handset.ports import DtmfDigits, FskCallerId, PlanTones
        from roamline.firmware.handset.runner import HandsetRunner

        ports = self._handset_ports
        ports.open()
        pf = ports.pin_factory
        pf = pf() if callable(pf) else pf
        audio = ports.audio if hasattr(ports, "audio") else ports.audio_device
        audio = audio() if callable(audio) else audio
        if audio is not None and audio.rate != 8000:
            from roamline.firmware.audio.device_rate import at_rate

            audio = at_rate(audio, 8000)
        country = self.config.country.lower()
        tone_country = {"gb": "uk"}.get(country, country)
        self._tones = PlanTones(tone_country, 8000)
        now = self.clock.monotonic()
        controller = HandsetController(board.hook_timing, board.slic.ring_hz, 8000, now, tones=self._tones,
                                       detector=DtmfDigits(8000), caller_id=FskCallerId(self.config.country))
        tee = TeeAudio(audio) if audio is not None else None
        if tee is not None:
            tee.on_mic = self._mic
        self._tee = tee
        self.handset = HandsetRunner(controller, SlicPins(board, pf), self.clock, self.post,
                                     audio=tee)  # type: ignore[arg-type]  # TeeAudio wraps an AudioDevice
        self.handset.start()

    def _grant_checker(self) -> Callable[[str, str, str, str], Any]:
        """Check the registry's signed rights on a dial with the CA this box pins (wire.grant)."""
        from roamline.wire import grant, identity

        ca = identity.load_certificate(endpoint(self.config).ca_pem.decode("ascii"))
        key = ca.public_key()
        clock = self.clock

        def check(token: str, call_id: str, line: str, number: str) -> Any:
            return grant.verify(token, key, call_id=call_id, line=line, number=number,  # type: ignore[arg-type]
                                now=clock.wall())

        return check

    # -- running ------------------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        from roamline.board.errors import UsageError as BoardUsageError
        from roamline.board.profile import load_profile
        from roamline.firmware.dialplan import Classifier, load_plan
        from roamline.firmware.prompts import ensure_prompts, load_prompts, texts

        cfg = self.config
        self._loop = asyncio.get_running_loop()
        try:
            board = load_profile(cfg.board)
        except BoardUsageError as exc:
            raise UsageError(f"board: {exc}") from None
        box = load_identity(cfg)
        await self._start_state(box.box_id)
        from roamline.firmware.location.service import LocationService

        plan = load_plan(cfg.country)
        confirm_key, next_key = _prompt_keys((*plan.emergency, *plan.emergency_test))
        self.where = LocationService(cfg.location.addresses, clock=self.clock,
                                     threshold_m=cfg.location.moved_threshold_m, confirm_key=confirm_key,
                                     next_key=next_key)
        ctx = backends.BackendContext(config=cfg, board=board, clock=self.clock)
        self._build(board, ctx, box)
        choice_keys = "".join(k for k in "23456789" if not any(e.startswith(k) for e in plan.emergency))
        if self.line is not None:
            self._peripheral("line", False, "opening")
        if self._handset_ports is not None:
            self._peripheral("handset", False, "opening")
        if self.readers is not None:
            self._peripheral("card", False, "pcscd not answering yet")
        store = BoxStore(cfg.data_dir / "box.db")
        await self._store(store.open)
        self.store = store
        started = self._started = time.monotonic()
        stopped_cleanly = False
        try:
            if self._handset_ports is not None:
                folder = cfg.data_dir / "prompts"
                await asyncio.to_thread(ensure_prompts, folder, choice_keys=choice_keys,
                                        max_slots=max(2, board.card_slots))
                names = list(texts(choice_keys, max(2, board.card_slots)))
                self._prompts = await asyncio.to_thread(load_prompts, folder, names)
                await asyncio.to_thread(self._open_handset, board)
                self._peripheral("handset", True, "open")
            has_line, can_bridge = False, False
            if self.line is not None:
                self.line.start()
                await asyncio.to_thread(self.line.ready.wait, 30)
                if self.line.error is None:
                    has_line = True
                    can_bridge = self.line.port.session.can_bridge
                    self._law = self.line.port.session.encoding
                    self._peripheral("line", True, "modem answering")
                else:
                    self._peripheral("line", False, self.line.error if self.line.ready.is_set()
                                     else "modem did not answer in 30 s")
            line_number = _e164(cfg.line.number, cfg.country)
            self.core = BoxCore(CoreConfig(box_id=box.box_id, has_line=has_line, line_can_bridge=can_bridge,
                                           line_number=line_number, interdigit_s=cfg.handset.interdigit_s,
                                           first_digit_s=cfg.handset.first_digit_s, choice_keys=choice_keys,
                                           ring_cadence={"GB": "uk", "DE": "de"}.get(cfg.country, "us")),
                                Classifier(plan, line_number=line_number), self.clock.monotonic(),
                                new_id=lambda: f"{box.box_id[:8]}-{secrets.token_hex(8)}",
                                check_grant=self._grant_checker(), where=self.where)
            self.post(ev.LocationSnapshot(self.where.snapshot()))
            if self._handset_ports is not None:  # the 933 readback ready before anyone dials it
                from roamline.firmware.location.readback import readback_text
                from roamline.firmware.prompts import spoken

                self._prompts[READBACK_PROMPT] = await asyncio.to_thread(
                    spoken, cfg.data_dir / "prompts", READBACK_PROMPT,
                    readback_text(self.where.snapshot(), line_number))
                for name, text in self.where.prompt_texts().items():  # the moved-location prompts
                    self._prompts[name] = await asyncio.to_thread(spoken, cfg.data_dir / "prompts", name,
                                                                  text)
            if self.readers is not None:
                self.readers.start()
            if has_line and line_number:
                self._spawn(self._greeting_ahead(line_number), "voicemail-greeting")
            stop_task: asyncio.Task[Any] | None = None
            async with asyncio.TaskGroup() as tg:
                assert self.link is not None
                self.link.start()
                core_task = tg.create_task(self._core_loop(), name="box-core")
                from roamline.firmware.location.follow import follow_gps

                gps = board.gps
                if cfg.location.gpsd is not None:
                    gps = dataclasses.replace(gps, gpsd=cfg.location.gpsd, serial=None)
                if gps.gpsd is not None or gps.serial is not None:
                    self._gps_state(False, "opening")
                gps_task = tg.create_task(follow_gps(gps, self.where, self._send_location,
                                                     on_state=self._gps_state), name="gps")
                beat_task = tg.create_task(self._heartbeat(), name="box-heartbeat")
                watch_task = tg.create_task(self._watch_media(), name="media-watch")
                self._running = {"box_id": box.box_id, "name": cfg.name, "line": has_line,
                                 "bridge": can_bridge, "handset": self.handset is not None,
                                 "cards": self.readers is not None}
                self._publish(lambda s: s.with_phase("running"))
                self._print({**self._running, "state": "running",
                             "ready_s": round(time.monotonic() - started, 3)})
                if self.link.is_up:
                    self._tell_ready()
                stop_task = tg.create_task(stop.wait(), name="box-stop")
                await stop_task
                core_task.cancel()
                gps_task.cancel()
                beat_task.cancel()
                watch_task.cancel()
                for t in list(self._tasks):
                    t.cancel()
                await self.link.stop()
            stopped_cleanly = True
        finally:
            await self._shutdown(stopped_cleanly)
        self._print({"box_id": box.box_id, "state": "stopped"})

    async def _shutdown(self, stopped_cleanly: bool = False) -> None:
        if self.readers is not None:
            await asyncio.to_thread(self.readers.stop)
        if self.handset is not None:
            await asyncio.to_thread(self.handset.close)
        if self._handset_ports is not None:
            await asyncio.to_thread(self._handset_ports.close)
        if self.line is not None:
            await asyncio.to_thread(self.line.stop)
        if getattr(self, "store", None) is not None:
            await self._store(self.store.close)
        self._db.shutdown(wait=True)
        self._cardx.shutdown(wait=True)
        if self._publisher is not None:
            if stopped_cleanly:  # a crash leaves the last state: its pid gone, health says so
                self._publish(lambda s: s.with_phase("stopped"))
            await asyncio.to_thread(self._publisher.close)

    async def _core_loop(self) -> None:
        core = self.core
        assert core is not None
        while True:
            dl = core.deadline()
            timeout = None if dl is None else max(0.0, dl - self.clock.monotonic())
            try:
                event = await asyncio.wait_for(self._queue.get(), timeout)
            except TimeoutError:
                actions = core.poll(self.clock.monotonic())
            else:
                self._observe(event)
                try:
                    actions = core.handle(event, self.clock.monotonic())
                except UsageError:
                    log.exception("core-refused-event", extra={"fields": {"event": type(event).__name__}})
                    continue
            await self._carry_out(actions)

    async def _watch_media(self) -> None:
        """Each relayed leg in a call: no datagram for ``link.media_silence_s`` while the link is down (or
        for twice that, link or not) → the core hears MediaLost once for that call."""
        limit = self.config.link.media_silence_s
        told: set[tuple[int, str]] = set()
        while True:
            await asyncio.sleep(min(1.0, limit / 4))
            now = self.clock.monotonic()
            up = self.link is not None and self.link.is_up
            live: set[tuple[int, str]] = set()
            for leg in (self._handset_leg, self._line_leg):
                call_id = self._leg_calls.get(leg.flow_id) if leg is not None else None
                if leg is None or call_id is None:
                    continue
                live.add((leg.flow_id, call_id))
                quiet = now - leg.heard_at
                if (leg.flow_id, call_id) not in told and (quiet >= 2 * limit or (not up and quiet >= limit)):
                    told.add((leg.flow_id, call_id))
                    log.info("media-silent", extra={"fields": {"call_id": call_id, "flow": leg.flow_id,
                                                                "quiet_s": round(quiet, 1), "link_up": up}})
                    self.post(ev.MediaLost(call_id, "media-silence"))
            told &= live

    # -- the link -----------------------------------------------------------------------------------------
    async def _send_location(self, msg: messages.Message) -> None:
        """A location message (moved, confirmed) to the registry; the core's snapshot follows the change."""
        if self.where is not None:
            self.post(ev.LocationSnapshot(self.where.snapshot()))
        if self.link is not None:
            await self.link.request(msg)

    async def _on_up(self, welcome: Welcome) -> None:
        wall = self.clock.wall()
        self._publish(lambda s: s.with_link(True, "registry welcomed the box", wall))
        if self.where is not None:
            from roamline.firmware.location.fingerprint import read_gateway

            gateway = await asyncio.to_thread(read_gateway)
            for msg in self.where.on_network(peer_address=welcome.peer_address, gateway=gateway):
                try:
                    await self._send_location(msg)
                except PeerError as exc:  # LinkClosed included; reported again after the next change
                    log.warning("location-report-failed",
                                extra={"fields": {"type": msg.TYPE, "error": str(exc)}})
            self.post(ev.LocationSnapshot(self.where.snapshot()))
        self.post(ev.LinkUp(welcome.box_id))
        self._tell_ready()
        from roamline.wire import calls as wc

        for flow, call_id in list(self._leg_calls.items()):  # flows re-bound to this new connection
            self._spawn(self._request(f"bind:{call_id}", wc.MediaBind(call_id=call_id, flow_id=flow)),
                        "media-bind")

    def _tell_ready(self) -> None:
        """Once: the "ready" line, when the link is up and every configured peripheral is open (the
        "running" line came first; it does not wait for the cloud, which a box may never reach)."""
        if self._ready_told or self._running is None:
            return
        self._ready_told = True
        _release_startup_memory()
        self._print({**self._running, "state": "ready", "link": True,
                     "ready_s": round(time.monotonic() - self._started, 3)})

    def _datagram(self, data: bytes) -> None:
        """Event loop: a media datagram → its leg's jitter buffer."""
        from roamline.firmware.media import flow_of

        flow = flow_of(data)
        leg = self._legs.get(flow) if flow is not None else None
        if leg is not None:
            leg.receive(data, self.clock.monotonic())

    def _send_datagrams(self, datagrams: list[bytes]) -> None:
        """Any thread: hand media datagrams to the loop (QUIC is the loop's)."""
        loop, link = self._loop, self.link
        if datagrams and loop is not None and link is not None and not loop.is_closed():
            def send() -> None:
                for d in datagrams:
                    link.send_datagram(d)
            loop.call_soon_threadsafe(send)

    async def _on_down(self, reason: str) -> None:
        self.post(ev.LinkDown(reason))
        wall = self.clock.wall()
        self._publish(lambda s: s.with_link(False, reason or "link lost", wall))

    async def _on_push(self, envelope: Envelope) -> None:
        """Never raises: a bad message is logged, the link goes on."""
        try:
            from roamline.firmware.core.linkcalls import incoming

            event = incoming(envelope)
            if event is None:
                self.post(ev.Pushed(envelope.message))
                return
            key = str(getattr(event, "key", ""))
            if envelope.id is not None and key:
                self._cloud_requests[key] = envelope
            self.post(event)
        except Exception:
            log.exception("push-handler-failed", extra={"fields": {"type": envelope.message.TYPE}})

    def _spawn(self, coro: Any, name: str) -> None:
        t = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def _request(self, key: str, message: messages.Message) -> None:
        assert self.link is not None
        try:
            reply = await self.link.request(message)
        except PeerError as exc:  # LinkClosed and RequestTimeout included
            self.post(request_failed(key, exc))
            return
        from roamline.firmware.core.linkcalls import reply_event

        self.post(reply_event(key, reply))

    async def _signal(self, a: ev.CallSignal) -> None:
        from roamline.firmware.core.linkcalls import outgoing

        assert self.link is not None
        try:
            kind, message = outgoing(a)
        except (ValueError, TypeError) as exc:  # e.g. no wire form yet (emergency without a line)
            log.warning("call-signal-unsendable", extra={"fields": {"kind": a.kind, "reason": str(exc)}})
            return
        try:
            if kind == "reply":
                env = self._cloud_requests.pop(a.key, None)
                link = self.link.connection
                if env is not None and link is not None:
                    await link.reply(env, message)
            elif kind == "request":
                await self._request(a.key or f"sig:{a.call_id}", message)
            elif kind == "push":
                link = self.link.connection
                if link is not None:
                    await link.send(message)
        except PeerError as exc:  # LinkClosed, RequestTimeout included
            log.info("call-signal-undelivered", extra={"fields": {"kind": a.kind, "reason": str(exc)}})

    # -- actions ------------------------------------------------------------------------------------------
    async def _carry_out(self, actions: list[ev.Action]) -> None:
        prompt: str | None = None
        for a in actions:
            try:
                prompt = await self._carry_out_one(a, prompt)
            except Exception:  # one action failing (a device, the store) must not stop the box
                log.exception("action-failed", extra={"fields": {"action": type(a).__name__}})

    async def _carry_out_one(self, a: ev.Action, prompt: str | None) -> str | None:
        if isinstance(a, ev.Emit):
            log.info(a.event, extra={"fields": a.fields})
            fields = {(f"field_{k}" if k in ("kind", "now") else k): v for k, v in a.fields.items()}
            await self._store(self.store.log_event, a.event, self.clock.wall(), **fields)
        elif isinstance(a, ev.ReadCard):
            self._spawn(self._read_card(a), f"read-{a.reader}")
        elif isinstance(a, ev.SignCard):
            self._spawn(self._sign_card(a), f"sign-{a.reader}")
        elif isinstance(a, ev.WipeHolder):
            await self._store(self.store.wipe_holder, a.card_id)
        elif isinstance(a, ev.CacheHolder):
            await self._store(self.store.cache_holder, a.card_id, a.profile, self.clock.wall())
        elif isinstance(a, ev.Request):
            self._spawn(self._request(a.key, a.message), f"req-{a.key}")
        elif isinstance(a, ev.CallSignal):
            self._spawn(self._signal(a), f"sig-{a.kind}")
        elif isinstance(a, ev.Enqueue):
            wall = self.clock.wall()
            payload = _wall_times(a.payload, wall - self.clock.monotonic())
            await self._store(self.store.enqueue, a.kind, payload, wall, key=a.key)
            self._spawn(self._flush(), "outbox")
        elif isinstance(a, ev.FlushOutbox):
            self._spawn(self._flush(), "outbox")
        elif isinstance(a, ev.DropLink):
            assert self.link is not None
            self.link.drop(a.reason, retry_after_s=a.retry_after_s)
        elif isinstance(a, ev.LineDo):
            if self.line is not None:
                self.line.do(a.op, a.number)
        elif isinstance(a, ev.PlayPrompt):
            if a.name == READBACK_PROMPT:
                await self._refresh_readback()
            self._handset_voice(self._prompt_source(a.name))
            return a.name
        elif isinstance(a, ev.PlayTone):
            self._tone(a.tone, prompt)
            return None
        elif isinstance(a, ev.RingHandset):
            self._ring(a)
        elif isinstance(a, ev.StopRinging):
            if self.handset is not None:
                self.handset.stop_ring()
        elif isinstance(a, ev.MakePrompt):
            await self._make_prompt(a)
        elif isinstance(a, ev.MessageWaiting):
            if self.handset is not None:
                self.handset.message_waiting(a.active)
        elif isinstance(a, ev.Connect):
            self._connect(a)
        elif isinstance(a, ev.PlayMessage):
            self._play_message(a)
            return None
        elif isinstance(a, ev.RecordLine):
            self._vm_starting.add(a.message_id)
            self._spawn(self._record_line(a), f"voicemail-{a.message_id}")
        elif isinstance(a, ev.StopRecording):
            self._end_recording(a.message_id, a.reason)
        elif isinstance(a, ev.RecordGreeting):
            self._record_greeting(a.greeting_id)
        elif isinstance(a, ev.StopGreeting):
            self._stop_greeting(a.greeting_id)
        return prompt

    async def _make_prompt(self, a: ev.MakePrompt) -> None:
        """A prompt whose words come from the registry (the attendant's menu): made with espeak-ng the
        first time these words are needed, then reused from the data dir until they change."""
        from roamline.firmware.prompts import spoken

        try:
            self._prompts[a.name] = await asyncio.to_thread(
                spoken, self.config.data_dir / "prompts", a.name, a.text)
        except UsageError as exc:  # no espeak-ng: the line says the general "refused" prompt instead
            log.warning("prompt-not-made", extra={"fields": {"prompt": a.name, "reason": str(exc)}})
    def _record_greeting(self, greeting_id: str) -> None:
        """*98 *: the prompt and a beep in the earpiece, then the mouthpiece is kept (µ-law)."""
        from roamline.firmware.handset.ports import ArraySource
        from roamline.firmware.prompts import beep

        source = Chain(self._prompt_source("vm-greeting"), ArraySource(beep()))
        self._greeting_rec = _MicRecording(greeting_id, source)
        self._handset_voice(source)

    def _stop_greeting(self, greeting_id: str) -> None:
        rec, self._greeting_rec = self._greeting_rec, None
        if rec is None or rec.greeting_id != greeting_id:
            return
        audio = bytes(rec.buf[: max(0, len(rec.buf) - 2400)])  # without the closing # (0.3 s)
        self.post(ev.GreetingRecorded(greeting_id, audio))

    def _play_message(self, a: ev.PlayMessage) -> None:
        """*98: a prompt, the message, the menu, one after another in the earpiece."""
        from roamline.firmware.audio import g711
        from roamline.firmware.handset.ports import ArraySource

        parts = [self._prompt_source(a.before)] if a.before else []
        if a.audio:
            parts.append(ArraySource(g711.decode("ulaw", a.audio)))
        parts.append(self._prompt_source(a.then))
        self._handset_voice(Chain(*parts))

    # -- voicemail on the line ------------------------------------------------------------------------------
    async def _holders_greeting(self, a: ev.RecordLine) -> Any:
        """The greeting the holder recorded (fetched from the registry for this message, kept by id);
        None (the default one is said instead) when it cannot be had."""
        from roamline.firmware.audio import g711
        from roamline.wire import voicemail as wvm

        name = f"greeting-{a.greeting}"
        if name in self._prompts:
            return self._prompts[name]
        if self.link is None:
            return None
        audio, seq = b"", 0
        try:
            while True:
                piece = messages.expect(await self.link.request(
                    wvm.VoicemailGreetingFetch(message_id=a.message_id, seq=seq)), wvm.VoicemailAudio)
                audio += piece.audio
                if piece.last or seq + 1 >= wvm.MAX_CHUNKS:
                    break
                seq += 1
        except PeerError as exc:
            log.warning("voicemail-greeting-unfetched", extra={"fields": {"greeting": a.greeting,
                                                                          "reason": str(exc)}})
            return None
        if not audio:
            return None
        self._prompts[name] = g711.decode("ulaw", audio)
        return self._prompts[name]

    async def _greeting_ahead(self, number: str) -> None:
        """The own line's greeting is made at start, before any caller waits for it."""
        try:
            await self._greeting(number)
        except UsageError as exc:
            log.warning("voicemail-greeting-unavailable", extra={"fields": {"reason": str(exc)}})

    async def _greeting(self, number: str) -> Any:
        """The default greeting naming ``number``: made with espeak-ng once, then kept in the data dir."""
        from roamline.firmware.prompts import greeting_name, greeting_text, spoken

        name = greeting_name(number)
        if name not in self._prompts:
            self._prompts[name] = await asyncio.to_thread(spoken, self.config.data_dir / "prompts", name,
                                                          greeting_text(number))
        return self._prompts[name]

    async def _record_line(self, a: ev.RecordLine) -> None:
        """Greeting, beep, then what the line hears goes to a MessageRecorder until it or the core ends it
        (custom greetings are not built yet: every holder gets the default one naming the number)."""
        import numpy as np

        from roamline.firmware.audio import g711
        from roamline.firmware.audio.message_recorder import MessageRecorder
        from roamline.firmware.prompts import beep

        greeting = await self._holders_greeting(a) if a.greeting != "default" else None
        if greeting is None:
            try:
                greeting = await self._greeting(a.number)
            except UsageError as exc:  # no espeak-ng: the caller still gets the beep and may speak
                log.error("voicemail-greeting-unavailable", extra={"fields": {"reason": str(exc)}})
                greeting = np.zeros(0, dtype=np.int16)
        self._vm_starting.discard(a.message_id)
        stopped = self._vm_stopped.pop(a.message_id, None)
        if stopped is not None or self.line is None:
            now = self.clock.wall()
            self.post(ev.LineRecorded(a.message_id, b"", stopped or "line-lost", now, now))
            return
        law = self._law if self._law in ("ulaw", "alaw") else "ulaw"
        rec = _Recording(a.message_id, MessageRecorder(max_s=a.max_s, silence_s=a.silence_s, law=law))
        said = np.concatenate([greeting, np.zeros(1600, dtype=np.int16), beep()])
        frames = [said[i:i + 160] for i in range(0, len(said), 160)]
        silence = np.zeros(160, dtype=np.int16)
        queue = iter(frames)
        clock = self.clock
        line = self.line
        # a half-duplex modem (no +VTR) says the greeting in voice transmit, then turns to receive
        half = not line.port.session.can_bridge

        def next_frame() -> bytes:
            frame = next(queue, None)
            if frame is None:
                if not rec.started:
                    rec.started, rec.started_wall = True, clock.wall()  # after the beep: record
                    if half:
                        line.tx_source = None
                        line.do("receive")
                frame = silence
            elif len(frame) < 160:
                frame = np.concatenate([frame, silence[: 160 - len(frame)]])
            return bytes(g711.encode(law, frame))

        with self._rec_lock:
            self._recording = rec
        self._line_leg = None

        def transmitting(ok: bool) -> None:
            if ok:
                line.tx_source = next_frame
            else:  # the call went while turning (the core hears the line end and stops the message)
                log.warning("voicemail-transmit-failed", extra={"fields": {"message_id": a.message_id}})

        if half:
            line.do("transmit", then=transmitting)
        else:
            line.tx_source = next_frame
        log.info("voicemail-greeting", extra={"fields": {"message_id": a.message_id, "number": a.number,
                                                         "greeting_s": round(len(greeting) / 8000, 2),
                                                         "half_duplex": half}})

    def _end_recording(self, message_id: str, reason: str) -> None:
        """Any thread: the recording ends (the core's stop, or the recorder's own silence / length)."""
        with self._rec_lock:
            rec = self._recording
            if rec is None or rec.message_id != message_id:
                rec = None
            else:
                self._recording = None
        if rec is None:
            if message_id in self._vm_starting:
                self._vm_stopped[message_id] = reason  # the greeting is being made: told once it is
            else:  # never answered (the caller gave up first): an empty message, only the missed call
                now = self.clock.wall()
                self.post(ev.LineRecorded(message_id, b"", reason, now, now))
            return
        now = self.clock.wall()
        started = rec.started_wall if rec.started else now
        self.post(ev.LineRecorded(message_id, rec.recorder.audio(), reason, started, now))

    async def _refresh_readback(self) -> None:
        """The 933 readback says the address and call-back number the core has now (remade when they
        changed since it was made: a confirmed new address, a line number)."""
        from roamline.firmware.location.readback import readback_text
        from roamline.firmware.prompts import spoken

        core = self.core
        if core is None or self._handset_ports is None:
            return
        text = readback_text(core.location, core.cfg.line_number)
        self._prompts[READBACK_PROMPT] = await asyncio.to_thread(
            spoken, self.config.data_dir / "prompts", READBACK_PROMPT, text)

    async def _flush(self) -> None:
        from roamline.firmware.link.outbox import OutboxCourier

        assert self.link is not None
        if not self.link.is_up:
            return
        courier = OutboxCourier(self.store, self.link, run=self._store)
        n = await courier.flush()
        if n:
            log.info("outbox-delivered", extra={"fields": {"items": n}})

    async def _read_card(self, a: ev.ReadCard) -> None:
        loop = asyncio.get_running_loop()
        try:
            card_id, pem = await loop.run_in_executor(self._cardx, self._read_card_sync, a.reader)
        except CardError as exc:
            self.post(ev.CardFailed(a.reader, a.gen, str(exc)))
            return
        self.post(ev.CardRead(a.reader, a.gen, card_id, pem))

    def _read_card_sync(self, reader: str) -> tuple[str, str]:
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        with self.readers.session(reader) as piv:
            piv.select()
            chuid = piv.read_chuid()
            der = piv.read_certificate(SLOT_CARD_AUTH)
        pem = x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM).decode("ascii")
        return chuid.card_id, pem

    async def _sign_card(self, a: ev.SignCard) -> None:
        def sign() -> bytes:
            with self.readers.session(a.reader) as piv:
                piv.select()
                return bytes(piv.sign(SLOT_CARD_AUTH, a.digest))

        try:
            sig = await asyncio.get_running_loop().run_in_executor(self._cardx, sign)
        except CardError as exc:
            self.post(ev.CardFailed(a.reader, a.gen, str(exc)))
            return
        self.post(ev.CardSigned(a.reader, a.gen, sig))

    # -- handset and audio --------------------------------------------------------------------------------
    def _prompt_source(self, name: str) -> Any:
        from roamline.firmware.handset.ports import ArraySource

        x = self._prompts.get(name) if name in self._prompts else self._prompts.get("refused")
        if x is None:
            raise UsageError(f"no prompt {name!r}")
        return ArraySource(x)

    def _handset_voice(self, source: Any) -> None:
        if self.handset is not None:
            self.handset.call(lambda c, _now: (c.play(None), c.set_voice(source)))

    def _tone(self, tone: str | None, after_prompt: str | None) -> None:
        if self.handset is None:
            return
        if tone is None:
            self.handset.call(lambda c, _now: (c.play(None), None if self._bridged() else c.set_voice(
                self._earpiece if self._earpiece is not None else None)))
            return
        if after_prompt is not None and self._tones is not None:
            src = Chain(self._prompt_source(after_prompt), self._tones.tone(tone))
            self._handset_voice(src)
            return
        self.handset.play(tone)

    def _bridged(self) -> bool:
        return self._bridge_handset_line

    def _ring(self, a: ev.RingHandset) -> None:
        if self.handset is None:
            return
        from roamline.firmware.callerid.codec import Absence, CallerId, Stamp

        cid = None
        if a.caller is not None:
            reasons = {"private": Absence.PRIVATE, "unavailable": Absence.UNAVAILABLE}
            reason = reasons.get(a.caller.absent or "")
            cid = CallerId(number=a.caller.number, name=a.caller.name,
                           when=Stamp.from_datetime(datetime.now()),
                           number_absent=reason if a.caller.number is None else None)
        self.handset.ring(a.cadence, caller_id=cid)

    def _leg(self, b: str, call_id: str, *, echo: bool, plc: bool = True, min_delay_ms: float = 0.0) -> Any:
        from roamline.firmware.media import MediaLeg

        flow = int(b.removeprefix("flow:"))
        leg = self._legs.get(flow)
        if leg is None or (call_id and self._leg_calls.get(flow) not in (None, call_id)):
            # a new leg (a flow id of an ended call, e.g. from before a cloud restart, is not reused)
            leg = self._legs[flow] = MediaLeg(flow, echo=echo, plc=plc, now=self.clock.monotonic(),
                                              min_delay_ms=min_delay_ms)
        if call_id:
            self._leg_calls[flow] = call_id
        return leg

    def _forget_legs(self) -> None:
        keep = {id(x) for x in (self._handset_leg, self._line_leg) if x is not None}
        for flow, leg in list(self._legs.items()):
            if id(leg) not in keep:
                self._legs.pop(flow, None)
                self._leg_calls.pop(flow, None)

    def _connect(self, a: ev.Connect) -> None:
        if a.a == "line" and a.b is not None and a.b.startswith("prompt:") and self.line is not None:
            self._line_prompt(a.b.removeprefix("prompt:"))
            return
        if a.a == "line" and a.b is not None and a.b.startswith("tone:") and self.line is not None:
            self._line_tone(a.b.removeprefix("tone:"))
            return
        if a.b is not None and a.b.startswith("flow:") and a.b != "flow:None":
            if a.a == "handset":
                from roamline.firmware.media import LegSource

                # an emergency call's flow (DESIGN §6.4) keeps TTY (Baudot) tones intact: no concealment or
                # synthetic frames (missing ones play as silence), no echo canceller (it takes an echoed
                # steady tone for echo and removes it), and a deeper jitter buffer so that late packets and
                # delay adaptation (which drops or inserts whole frames) are rare
                tty = a.tty_safe
                leg = self._handset_leg = self._leg(a.b, a.call_id, echo=not tty, plc=not tty,
                                                    min_delay_ms=TTY_MIN_DELAY_MS if tty else 0.0)
                self._bridge_handset_line = False
                self._earpiece = None
                src = LegSource(leg, self.clock)
                if self.handset is not None:
                    self.handset.call(lambda c, _now: (c.play(None), c.set_voice(src)))
            elif a.a == "line" and self.line is not None:
                from roamline.firmware.audio import g711

                leg = self._line_leg = self._leg(a.b, a.call_id, echo=True)
                law, clock = self._law if self._law in ("ulaw", "alaw") else "ulaw", self.clock
                self.line.tx_source = lambda: g711.encode(law, leg.pull(clock.monotonic()))
            self._forget_legs()
            return
        if a.a == "handset" and a.b == "line":
            from roamline.firmware.media import EchoPath

            self._line_echo, self._ear_echo = EchoPath(), EchoPath()
            self._bridge_handset_line = True
            self._earpiece = VoiceQueue(played=self._ear_echo.played)
            if self.handset is not None:
                ear = self._earpiece
                self.handset.call(lambda c, _now: (c.play(None), c.set_voice(ear)))
        elif a.b is None and a.a in ("handset", "line"):
            self._bridge_handset_line = False
            self._earpiece = None
            self._line_echo = self._ear_echo = None
            if a.a == "handset":
                self._handset_leg = None
                if self.handset is not None:
                    self.handset.set_voice(None)
            else:
                self._line_leg = None
                if self.line is not None:
                    self.line.tx_source = None
            self._forget_legs()
        else:
            log.info("media-flow-not-bridged", extra={"fields": {"a": a.a, "b": a.b}})

    def _line_prompt(self, name: str) -> None:
        """Speak a prompt to the far end of the line (a refusal), then silence, 20 ms per pull."""
        import numpy as np

        from roamline.firmware.audio import g711

        assert self.line is not None
        samples = self._prompts.get(name)
        if samples is None:
            samples = self._prompts.get("refused")
        if samples is None:
            log.warning("prompt-missing", extra={"fields": {"prompt": name}})
            return
        law = self._law if self._law in ("ulaw", "alaw") else "ulaw"
        frames = [samples[i:i + 160] for i in range(0, len(samples), 160)]
        silence = np.zeros(160, dtype=np.int16)
        queue = iter(frames)

        def next_frame() -> bytes:
            frame = next(queue, silence)
            if len(frame) < 160:
                frame = np.concatenate([frame, silence[: 160 - len(frame)]])
            return bytes(g711.encode(law, frame))

        self._line_leg = None
        self.line.play(next_frame)  # a half-duplex line turns to voice transmit first

    def _line_tone(self, name: str) -> None:
        """A call-progress tone of the box's country to the far end of the line (the attendant's
        ringback while the chosen holder's boxes ring), 20 ms per pull."""
        from roamline.firmware.audio import g711
        from roamline.firmware.handset.ports import PlanTones

        assert self.line is not None
        country = self.config.country.lower()
        tones = self._tones
        if tones is None:
            tones = PlanTones({"gb": "uk"}.get(country, country), 8000)
        source = tones.tone(name)
        law = self._law if self._law in ("ulaw", "alaw") else "ulaw"
        self._line_leg = None
        self.line.play(lambda: bytes(g711.encode(law, source.read(160))))

    def _line_voice(self, data: bytes) -> None:
        """Line pump thread: far-end audio from the modem → the earpiece, when bridged (or a message)."""
        rec = self._recording
        if rec is not None and rec.started:
            ended = rec.recorder.feed(data)
            if ended is not None:
                self._end_recording(rec.message_id, ended)
        ear, leg, echo = self._earpiece, self._line_leg, self._line_echo
        if (ear is not None or leg is not None) and self._law in ("ulaw", "alaw"):
            from roamline.firmware.audio import g711

            samples = g711.decode(self._law, data)
            if ear is not None:
                ear.push(echo.clean(samples) if echo is not None else samples)
            if leg is not None:
                self._send_datagrams(leg.send(samples))

    def _mic(self, samples: Any) -> None:
        """Handset audio thread: the mouthpiece → the line, when bridged (or a greeting being said)."""
        greeting = self._greeting_rec
        if greeting is not None and greeting.source.finished and len(greeting.buf) < 60 * 8000:
            from roamline.firmware.audio import g711

            greeting.buf += g711.encode("ulaw", samples)
        line_echo, ear_echo = self._line_echo, self._ear_echo
        if self._bridge_handset_line and self.line is not None and self._law in ("ulaw", "alaw"):
            from roamline.firmware.audio import g711

            out = ear_echo.clean(samples) if ear_echo is not None else samples
            if line_echo is not None:
                line_echo.played(out)  # what goes into the line's hybrid comes back as its echo
            if len(out):
                self.line.send_voice(g711.encode(self._law, out))
        leg = self._handset_leg
        if leg is not None:
            self._send_datagrams(leg.send(samples))


class _MicRecording:
    """A greeting the holder is saying into the mouthpiece (kept once the prompt and beep are over)."""

    def __init__(self, greeting_id: str, source: Any) -> None:
        self.greeting_id = greeting_id
        self.source = source
        self.buf = bytearray()


class _Recording:
    """A message being recorded from the line (the line pump thread feeds it once the beep is over)."""

    def __init__(self, message_id: str, recorder: Any) -> None:
        self.message_id = message_id
        self.recorder = recorder
        self.started = False
        self.started_wall = 0.0


def _release_startup_memory() -> None:
    """Give the C heap's free pages back to the system once the box is up (glibc ``malloc_trim``):
    starting (imports, prompts, the TLS handshake) leaves freed memory a Pi's RSS would keep."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def _wall_times(payload: dict[str, Any], offset: float) -> dict[str, Any]:
    """The core's clock is monotonic; what leaves the box carries Unix seconds (``*_at`` fields)."""
    return {k: (round(v + offset, 3) if k.endswith("_at") and isinstance(v, int | float)
                and not isinstance(v, bool) else v) for k, v in payload.items()}


def _e164(number: str, country: str) -> str:
    if not number:
        return ""
    import phonenumbers

    try:
        n = phonenumbers.parse(number, country)
    except phonenumbers.NumberParseException:
        raise UsageError(f"line.number: not a phone number: {number!r}") from None
    return phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)


async def run_box(config_path: str | Path) -> None:
    config = load_box_config(config_path)
    runtime = BoxRuntime(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await runtime.run(stop)
    finally:
        sys.stdout.flush()


__all__ = ["BoxRuntime", "card_ev", "load_identity", "run_box"]
