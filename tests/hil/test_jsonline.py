"""The simulators' control-socket server and client (hil/jsonline.py)."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from roamline.hil.errors import PeerError, UsageError
from roamline.hil.jsonline import MAX_REQUEST, JsonLineServer, request


class Echo(JsonLineServer):
    def __init__(self, path: Path, *, concurrent: bool) -> None:
        super().__init__(path, concurrent=concurrent)
        self.release = threading.Event()

    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        if req.get("op") == "block":
            self.release.wait(5)
        if req.get("op") == "bad":
            raise UsageError("bad op")
        return {"echo": req}


def _serve(tmp_path: Path, concurrent: bool) -> Echo:
    s = Echo(tmp_path / "ctl.sock", concurrent=concurrent)
    s.open()
    s.open()  # idempotent
    return s


@pytest.mark.parametrize("concurrent", [True, False])
def test_requests_on_one_connection_each_get_their_reply(tmp_path: Path, concurrent: bool) -> None:
    s = _serve(tmp_path, concurrent)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
            c.connect(str(s.path))
            c.sendall(b'{"op": "a"}\n[1]\n{"op": "bad"}\nnot json\n')
            lines = _read_lines(c, 4)
        assert lines[0] == {"ok": True, "echo": {"op": "a"}}
        assert lines[1]["ok"] is False and "JSON object" in lines[1]["error"]
        assert lines[2] == {"ok": False, "error": "UsageError: bad op"}
        assert lines[3]["ok"] is False
        assert request(s.path, {"op": "b"}, 5, "echo") == {"ok": True, "echo": {"op": "b"}}
    finally:
        s.close()
        s.close()
    assert not s.path.exists()


@pytest.mark.parametrize("concurrent", [True, False])
def test_a_request_over_the_limit_is_refused_and_the_connection_closed(
    tmp_path: Path, concurrent: bool
) -> None:
    s = _serve(tmp_path, concurrent)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
            c.connect(str(s.path))
            c.sendall(b"x" * (MAX_REQUEST + 10))
            assert _read_lines(c, 1) == [{"ok": False, "error": "request too long"}]
            assert c.recv(10) == b""
    finally:
        s.close()


def test_a_concurrent_server_answers_while_another_request_is_still_running(tmp_path: Path) -> None:
    s = _serve(tmp_path, True)
    try:
        held = threading.Thread(target=request, args=(s.path, {"op": "block"}, 10, "echo"))
        held.start()
        assert request(s.path, {"op": "quick"}, 5, "echo")["ok"] is True
        s.release.set()
        held.join(5)
    finally:
        s.release.set()
        s.close()


def test_an_inline_server_drops_a_connection_that_stays_quiet(tmp_path: Path) -> None:
    s = _serve(tmp_path, False)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as quiet:
            quiet.connect(str(s.path))  # holds the accept thread until it is dropped
            assert request(s.path, {"op": "next"}, 10, "echo")["ok"] is True
            quiet.settimeout(5)
            assert quiet.recv(10) == b""
    finally:
        s.close()


def test_the_client_names_what_went_wrong(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no echo listening"):
        request(tmp_path / "nothing.sock", {"op": "x"}, 1, "echo")
    path = tmp_path / "mute.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as mute:
        mute.bind(str(path))
        mute.listen(1)
        with pytest.raises(PeerError, match="did not answer 'x'"):
            request(path, {"op": "x"}, 0.3, "echo")
    for reply in (b"[1]\n", b"nope\n", b""):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as srv:
            p = tmp_path / f"r{len(reply)}.sock"
            srv.bind(str(p))
            srv.listen(1)
            t = threading.Thread(target=_answer_once, args=(srv, reply))
            t.start()
            with pytest.raises(PeerError, match="not"):
                request(p, {"op": "x"}, 5, "echo")
            t.join(5)


def _answer_once(srv: socket.socket, reply: bytes) -> None:
    conn, _ = srv.accept()
    with conn:
        conn.recv(100)
        conn.sendall(reply)


def _read_lines(c: socket.socket, n: int) -> list[dict[str, Any]]:
    c.settimeout(5)
    buf = b""
    while buf.count(b"\n") < n:
        chunk = c.recv(65536)
        if not chunk:
            break
        buf += chunk
    return [json.loads(x) for x in buf.splitlines()]
