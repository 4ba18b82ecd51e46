"""Registration load generator: one process, many simulated boxes, each on its own QUIC connection.

Run by `roamline bench register` as ``python -m roamline.hil.bench.regload SPEC.json``. Each box
connects, proves itself with nonce → hello (its own enrolled key), prints nothing until every box is
up, then prints ``{"ready": N}``. It waits for one line on stdin, ``{"start": T0, "end": T1}`` (wall
seconds), and runs ``inflight`` registration loops per box until T1: NonceRequest(register) → sign
registration_digest with the card's software key → Register → Registered. Only registrations whose
reply arrives inside [T0, T1) are counted; the time before T0 is warm-up. The last stdout line is the
result JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roamline.hil.bench.regfleet import FleetBox, FleetCard, load_fleet
from roamline.wire import identity, quic, signing
from roamline.wire.errors import LinkClosed, RemoteError, RequestTimeout
from roamline.wire.link import LinkConnection
from roamline.wire.messages import (
    Hello,
    NonceIssued,
    NoncePurpose,
    NonceRequest,
    Register,
    Registered,
    Welcome,
)


@dataclass
class Tally:
    window: tuple[float, float] = (float("inf"), float("inf"))
    ok_in_window: int = 0
    ok_total: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)

    def done(self, started: float, ended: float) -> None:
        self.ok_total += 1
        if self.window[0] <= ended < self.window[1]:
            self.ok_in_window += 1
            self.latencies_ms.append((ended - started) * 1000)


async def hello(link: LinkConnection, box: FleetBox, key: identity.PrivateKey) -> None:
    issued = await link.request(NonceRequest(purpose=NoncePurpose.HELLO))
    assert isinstance(issued, NonceIssued)
    sig = identity.sign_digest(key, signing.hello_digest(issued.nonce, box.box_id))
    welcome = await link.request(Hello(cert_pem=box.cert_pem, nonce=issued.nonce, signature=sig,
                                       software="roamline-bench"))
    assert isinstance(welcome, Welcome) and welcome.box_id == box.box_id


async def register_loop(link: LinkConnection, box_id: str, cards: list[tuple[FleetCard, identity.PrivateKey]],
                        until: float, tally: Tally) -> None:
    i = 0
    while cards and time.time() < until and not link.closed:
        card, key = cards[i % len(cards)]
        i += 1
        started = time.time()
        try:
            issued = await link.request(NonceRequest(purpose=NoncePurpose.REGISTER))
            assert isinstance(issued, NonceIssued)
            digest = signing.registration_digest(issued.nonce, box_id, card.card_id)
            reply = await link.request(Register(
                card_cert_pem=card.cert_pem, card_id=card.card_id, nonce=issued.nonce,
                signature=identity.sign_digest(key, digest)))
        except RemoteError as exc:
            tally.refused[str(exc.code)] += 1
            continue
        except RequestTimeout:
            tally.refused["timeout"] += 1
            continue
        except LinkClosed:
            tally.refused[f"link-closed: {link.close_reason}"[:80]] += 1
            return
        if isinstance(reply, Registered) and reply.card_id == card.card_id:
            tally.done(started, time.time())
        else:
            tally.refused["unexpected-reply"] += 1


async def run(spec: dict[str, Any], fleet: list[FleetBox], ca_pem: bytes) -> dict[str, Any]:
    inflight = int(spec["inflight"])

    async def connect(box: FleetBox) -> LinkConnection:
        link = await quic.connect(spec["host"], spec["port"], ca_pem=ca_pem, server_name=spec["server_name"],
                                  connect_timeout_s=20.0, keepalive_s=None, dead_after_s=None)
        await hello(link, box, identity.load_private_key_pem(box.key_pem))
        return link

    sem = asyncio.Semaphore(8)  # handshakes in a burst would only queue at the registry

    async def connect_gently(box: FleetBox) -> LinkConnection:
        async with sem:
            return await connect(box)

    links = list(await asyncio.gather(*(connect_gently(b) for b in fleet)))
    print(json.dumps({"ready": len(links)}), flush=True)
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    go = json.loads(line)
    tally = Tally(window=(float(go["start"]), float(go["end"])))
    tasks = []
    for box, link in zip(fleet, links, strict=True):
        keyed = [(c, identity.load_private_key_pem(c.key_pem)) for c in box.cards]
        for k in range(inflight):  # each loop owns its own cards: one card is never in flight twice
            tasks.append(register_loop(link, box.box_id, keyed[k::inflight], tally.window[1], tally))
    await asyncio.gather(*tasks)
    for link in links:
        link.close(reason="bench done")
    await asyncio.gather(*(link.wait_closed() for link in links))
    return {"connections": len(links), "ok_in_window": tally.ok_in_window, "ok_total": tally.ok_total,
            "latencies_ms": [round(x, 3) for x in tally.latencies_ms], "refused": dict(tally.refused)}


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    fleet = load_fleet(Path(spec["fleet"]))[spec["first"]:spec["last"]]
    result = asyncio.run(run(spec, fleet, Path(spec["ca"]).read_bytes()))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
