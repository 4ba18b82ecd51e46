"""SIPp (Debian ``sip-tester``) as a real SIP peer in tests and benches: an answering point that runs a
UAS scenario, echoes RTP (``-rtp_echo``) and logs every SIP message it sent and received.

``SippPeer(scenario, workdir).start()`` binds SIP on a free UDP port of 127.0.0.1 (``uri`` names it);
``wait()`` returns SIPp's exit status (0: every call of the scenario passed its checks); ``messages()``
the messages it logged, as raw texts.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

from roamline.hil.errors import UsageError


def free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class SippPeer:
    def __init__(self, scenario: Path, workdir: Path, *, host: str = "127.0.0.1", calls: int = 1,
                 timeout_s: float = 60.0, rtp_echo: bool = True, remote: str | None = None,
                 service: str | None = None) -> None:
        """``remote`` (``host:port``): run as a client calling there (``service``: the Request-URI's user);
        None: an answering point waiting for calls."""
        self.scenario = scenario
        self.remote = remote
        self.service = service
        self.workdir = workdir
        self.host = host
        self.calls = calls
        self.timeout_s = timeout_s
        self.rtp_echo = rtp_echo
        self.port = 0
        self.media_port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / "sipp-messages.log"

    @property
    def uri(self) -> str:
        return f"sip:psap@{self.host}:{self.port}"

    def start(self) -> SippPeer:
        exe = shutil.which("sipp")
        if exe is None:
            raise UsageError("sipp is not installed (Debian package sip-tester; scripts/bootstrap.sh)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_udp_port(self.host)
        self.media_port = free_udp_port(self.host)
        args = [exe, "-sf", str(self.scenario.resolve()), "-i", self.host, "-p", str(self.port),
                "-mi", self.host,
                "-mp", str(self.media_port), *(["-rtp_echo"] if self.rtp_echo else []),
                "-m", str(self.calls), "-nostdin",
                "-trace_msg", "-message_file", str(self.log), "-trace_err",
                "-error_file", str(self.workdir / "sipp-errors.log"),
                "-timeout", f"{int(self.timeout_s)}s", "-timeout_error",
                *(["-s", self.service] if self.service else []), *([self.remote] if self.remote else [])]
        out = open(self.workdir / "sipp-stdout.log", "wb")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        cwd=self.workdir)
        out.close()
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:  # SIPp has bound its port once it refuses ours
            if self.process.poll() is not None:
                raise UsageError(f"sipp exited at start: {self.output()[-400:]}")
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                try:
                    s.bind((self.host, self.port))
                except OSError:
                    return self
            time.sleep(0.05)
        raise UsageError("sipp did not bind its SIP port within 5 s")

    def wait(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        p = self.process
        if p is not None and p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def output(self) -> str:
        parts = []
        for name in ("sipp-stdout.log", "sipp-errors.log"):
            f = self.workdir / name
            if f.exists():
                parts.append(f.read_text(encoding="utf-8", errors="replace"))
        return "\n".join(parts)

    def messages(self) -> list[str]:
        """The SIP messages SIPp logged (each as it was on the wire, CRLF line ends)."""
        return [text for _, text in self.timed_messages()]

    def timed_messages(self) -> list[tuple[float, str]]:
        """(Unix seconds SIPp logged it at, the message) for each SIP message sent or received."""
        if not self.log.exists():
            return []
        text = self.log.read_text(encoding="utf-8", errors="replace")
        head = r"\n-+ ([0-9-]+ [0-9:.]+)\n(?:UDP )?message (?:received|sent) [^\n]*\n\n"
        parts = re.split(head, "\n" + text)
        out = []
        for stamp, block in zip(parts[1::2], parts[2::2], strict=True):
            day, _, clock = stamp.partition(" ")
            whole, _, frac = clock.partition(".")
            at = time.mktime(time.strptime(f"{day} {whole}", "%Y-%m-%d %H:%M:%S")) + float(f"0.{frac or 0}")
            out.append((at, block.rstrip("\n")))
        return out

    def __enter__(self) -> SippPeer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
