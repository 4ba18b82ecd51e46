"""Property: whatever boxes do in whatever order, a card rings at most at one box, the right one."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roamline.wire.messages import Deregister, Refresh, Registered, Superseded, Welcome

from ..conftest import Harness

NUM = "+15551230001"

op = st.one_of(
    st.tuples(st.just("register"), st.integers(0, 1), st.integers(0, 1)),
    st.tuples(st.just("deregister"), st.integers(0, 1), st.integers(0, 1)),
    st.tuples(st.just("refresh"), st.integers(0, 1), st.integers(0, 1)),
    st.tuples(st.just("advance"), st.sampled_from([1.0, 20.0, 45.0]), st.just(0)),
    st.tuples(st.just("sweep"), st.just(0), st.just(0)),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=12))
def test_one_box_per_card_matches_model(ops: list[tuple[str, float, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        h = Harness(Path(tmp))
        try:
            account = h.account("Ann", NUM)
            boxes = [h.enroll_box("a"), h.enroll_box("b")]
            cards = [h.enroll_card(account), h.enroll_card(account)]
            conns = ["ca", "cb"]
            for conn, box in zip(conns, boxes, strict=True):
                assert isinstance(h.hello(conn, box), Welcome)
            lease = h.config.lease_s
            owner: dict[int, tuple[int, float]] = {}  # card -> (box, lease expiry); active in the store
            for name, x, y in ops:
                if name == "advance":
                    h.clock.advance(x)
                elif name == "sweep":
                    h.registry.sweep(h.now)
                    owner = {c: o for c, o in owner.items() if o[1] > h.now}
                else:
                    b, c = int(x), y
                    if name == "register":
                        reply, pushes = h.send(conns[b], h.register_msg(conns[b], boxes[b], cards[c]))
                        assert isinstance(reply, Registered)
                        prev = owner.get(c)
                        told = [p for p in pushes if isinstance(p.message, Superseded)]
                        if prev is not None and prev[0] != b:
                            assert [p.conn_id for p in told] == [conns[prev[0]]]
                        else:
                            assert told == []
                        owner[c] = (b, h.now + lease)
                    elif name == "deregister":
                        h.reply(conns[b], Deregister(card_id=cards[c].card_id))
                        if c in owner and owner[c][0] == b:
                            del owner[c]
                    else:
                        h.reply(conns[b], Refresh(card_ids=(cards[c].card_id,)))
                        if c in owner and owner[c][0] == b and owner[c][1] > h.now:
                            owner[c] = (b, h.now + lease)
                live = [(c, o[0]) for c, o in owner.items() if o[1] > h.now]
                expected = sorted((cards[c].card_id, boxes[b].box_id) for c, b in live)
                got = sorted((e.card_id, e.box_id) for e in h.registry.where(NUM, h.now))
                assert got == expected
        finally:
            h.store.close()
