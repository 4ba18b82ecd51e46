"""Real receivers for the registry's emergency notifications, for tests and ``roamline bench e911``.

:class:`SmtpSink` is a real SMTP server (aiosmtpd, on its own thread) that keeps every message it is
given; :class:`WebhookSink` a real HTTP server (``http.server`` on its own thread) that keeps every POST
and can be told to fail the first N (to show the registry's retries). Both record the
``time.monotonic()`` of each arrival, comparable with other processes' on the same machine.
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def free_tcp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class Mail:
    at: float  # time.monotonic() when the server accepted it
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Hook:
    at: float
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class SmtpSink:
    """``with SmtpSink() as smtp:`` … ``smtp.wait(1)`` → the first message."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port or free_tcp_port(host)
        self.mails: list[Mail] = []
        self._cv = threading.Condition()
        self._controller: Any = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        with self._cv:
            self.mails.append(Mail(time.monotonic(), envelope.mail_from, list(envelope.rcpt_tos), msg))
            self._cv.notify_all()
        return "250 Message accepted for delivery"

    def start(self) -> SmtpSink:
        from aiosmtpd.controller import Controller

        self._controller = Controller(self, hostname=self.host, port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def wait(self, n: int = 1, timeout: float = 10.0) -> list[Mail]:
        with self._cv:
            self._cv.wait_for(lambda: len(self.mails) >= n, timeout)
            return list(self.mails)

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class WebhookSink:
    """An HTTP receiver on ``url``; ``fail_first`` POSTs are answered 503."""

    host: str = "127.0.0.1"
    fail_first: int = 0
    hooks: list[Hook] = field(default_factory=list)
    refused: int = 0
    _server: ThreadingHTTPServer | None = None
    _port: int = 0
    _thread: threading.Thread | None = None
    _cv: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        assert self._port, "start the sink first"
        return f"http://{self.host}:{self._port}/hooks/emergency"

    def start(self) -> WebhookSink:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(n, 1 << 20))
                with sink._cv:
                    if sink.refused < sink.fail_first:
                        sink.refused += 1
                        self.send_response(503)
                        self.end_headers()
                        return
                    sink.hooks.append(Hook(time.monotonic(), self.path, dict(self.headers.items()), body))
                    sink._cv.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-sink", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def wait(self, n: int = 1, timeout: float = 10.0) -> list[Hook]:
        with self._cv:
            self._cv.wait_for(lambda: len(self.hooks) >= n, timeout)
            return list(self.hooks)

    def __enter__(self) -> WebhookSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["Hook", "Mail", "SmtpSink", "WebhookSink", "free_tcp_port"]
