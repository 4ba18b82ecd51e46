"""A SIP-over-TLS peer for tests (RFC 3261 §26, RFC 5630): Debian's SIPp is built without OpenSSL
("To use a TLS transport you must compile SIPp with OpenSSL"), so this stands in for it on the TLS route.
It is a protocol peer, not a mock: it speaks SIP over a real TLS connection (stdlib ``ssl``) with its own
certificate, parses what it receives with the same grammar any peer must accept, and echoes RTP.

- :meth:`TlsSipPeer.serve`: an answering point. Every INVITE gets 100, 180 and a 200 with PCMU SDP (its
  RTP socket echoes what arrives); an ACK confirms; a BYE gets 200; :meth:`hang_up` sends our BYE.
- :meth:`TlsSipPeer.call`: an answering point calling back: INVITE ``sip:NUMBER@host;transport=tls`` over
  a new TLS connection (presenting its certificate), ACK of the final response, and BYE after
  ``talk_s`` when answered. Returns the responses it got.

:func:`make_certificate` makes the test certificates (self-signed, or issued by another).
"""

from __future__ import annotations

import datetime
import ipaddress
import secrets
import socket
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from roamline.hil.errors import UsageError
from roamline.wire import sip
from roamline.wire.errors import PeerError


@dataclass(frozen=True, slots=True)
class Credential:
    cert_pem: bytes
    key_pem: bytes

    def files(self, folder: Path, name: str) -> tuple[Path, Path]:
        cert, key = folder / f"{name}.crt", folder / f"{name}.key"
        cert.write_bytes(self.cert_pem)
        key.write_bytes(self.key_pem)
        key.chmod(0o600)
        return cert, key


def make_certificate(name: str, ip: str = "127.0.0.1", *, issuer: Credential | None = None,
                     ca: bool = False) -> Credential:
    """An EC P-256 certificate for ``name`` with ``ip`` as its subject alternative name, valid a day,
    self-signed or signed by ``issuer``; ``ca``: may issue others."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    if issuer is not None:
        issuer_cert = x509.load_pem_x509_certificate(issuer.cert_pem)
        issuer_key = serialization.load_pem_private_key(issuer.key_pem, None)
        issuer_name = issuer_cert.subject
    else:
        issuer_key, issuer_name = key, subject
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
                              critical=False)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    assert isinstance(issuer_key, ec.EllipticCurvePrivateKey)
    cert = builder.sign(issuer_key, hashes.SHA256())
    return Credential(cert.public_bytes(serialization.Encoding.PEM),
                      key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))


def fingerprint(cred: Credential) -> str:
    """The SHA-256 fingerprint of ``cred``'s certificate (``AB:CD:…``)."""
    der = ssl.PEM_cert_to_DER_cert(cred.cert_pem.decode("ascii"))
    import hashlib

    digits = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digits[i:i + 2] for i in range(0, 64, 2))


@dataclass
class _Dialog:
    conn: ssl.SSLSocket
    invite: sip.SipMessage
    tag: str
    confirmed: bool = False
    ended: bool = False


@dataclass
class TlsSipPeer:
    """``cred``: our certificate; ``trust``: PEM of what the other side's certificate must chain to (None:
    not checked — a server then asks for no client certificate)."""

    cred: Credential
    host: str = "127.0.0.1"
    trust: bytes | None = None
    port: int = 0
    received: list[str] = field(default_factory=list)
    client_certs: list[bytes | None] = field(default_factory=list)
    _listener: socket.socket | None = None
    _threads: list[threading.Thread] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _dialogs: dict[str, _Dialog] = field(default_factory=dict)
    _rtp: socket.socket | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def uri(self) -> str:
        return f"sips:psap@{self.host}:{self.port}"

    def _context(self, server: bool) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = self.cred.files(Path(tmp), "peer")
            ctx.load_cert_chain(str(cert), str(key))
        if self.trust is not None:
            ctx.load_verify_locations(cadata=self.trust.decode("ascii"))
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.check_hostname = False  # the registry's certificate names its host, not a loopback address
        elif not server:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    # --- answering point (server) -------------------------------------------------------------------

    def serve(self) -> TlsSipPeer:
        ctx = self._context(server=True)
        lst = socket.create_server((self.host, self.port))
        lst.settimeout(0.2)
        self._listener = lst
        self.port = int(lst.getsockname()[1])
        self._rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._rtp.bind((self.host, 0))
        self._rtp.settimeout(0.2)
        self._spawn(self._accept_loop, ctx)
        self._spawn(self._echo_loop)
        return self

    def _spawn(self, target: object, *args: object) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        t.start()
        self._threads.append(t)

    def _accept_loop(self, ctx: ssl.SSLContext) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                raw, _ = self._listener.accept()
            except OSError:
                continue
            try:
                conn = ctx.wrap_socket(raw, server_side=True)
            except OSError:
                raw.close()
                continue
            self.client_certs.append(conn.getpeercert(binary_form=True))
            self._spawn(self._read_loop, conn)

    def _echo_loop(self) -> None:
        assert self._rtp is not None
        while not self._stop.is_set():
            try:
                data, addr = self._rtp.recvfrom(2048)
            except OSError:
                continue
            self._rtp.sendto(data, addr)

    def _read_loop(self, conn: ssl.SSLSocket) -> None:
        conn.settimeout(0.2)
        framer = sip.Framer()
        while not self._stop.is_set():
            try:
                data = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            try:
                msgs = framer.feed(data)
            except PeerError:
                return
            for msg in msgs:
                self.received.append(msg.encode().decode("utf-8", "replace"))
                self._handle(conn, msg)

    def _reply(self, conn: ssl.SSLSocket, req: sip.SipMessage, status: int, reason: str, tag: str | None,
               body: bytes = b"") -> None:
        to = req.need("To")
        if tag is not None and sip.tag_of(to) is None:
            to = f"{to};tag={tag}"
        headers = [("Via", v) for v in req.all("Via")]
        headers += [("From", req.need("From")), ("To", to), ("Call-ID", req.need("Call-ID")),
                    ("CSeq", req.need("CSeq"))]
        if body:
            headers += [("Contact", f"<sips:psap@{self.host}:{self.port}>"),
                        ("Content-Type", "application/sdp")]
        conn.sendall(sip.response(status, reason, headers, body).encode())

    def _handle(self, conn: ssl.SSLSocket, msg: sip.SipMessage) -> None:
        if not msg.is_request:
            return
        call_id = msg.need("Call-ID")
        if msg.method == "INVITE":
            assert self._rtp is not None
            tag = secrets.token_hex(4)
            with self._lock:
                self._dialogs[call_id] = _Dialog(conn, msg, tag)
            self._reply(conn, msg, 100, "Trying", None)
            self._reply(conn, msg, 180, "Ringing", tag)
            sdp = sip.sdp_offer(self.host, int(self._rtp.getsockname()[1]), session_id=1)
            self._reply(conn, msg, 200, "OK", tag, sdp)
        elif msg.method == "ACK":
            d = self._dialogs.get(call_id)
            if d is not None:
                d.confirmed = True
        elif msg.method == "BYE":
            d = self._dialogs.get(call_id)
            self._reply(conn, msg, 200 if d is not None else 481, "OK" if d is not None else "No Call", None)
            if d is not None:
                d.ended = True

    def invites(self) -> list[sip.SipMessage]:
        return [d.invite for d in self._dialogs.values()]

    def wait_confirmed(self, timeout: float = 5.0) -> _Dialog:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for d in list(self._dialogs.values()):
                if d.confirmed:
                    return d
            time.sleep(0.02)
        raise UsageError(f"no call confirmed over TLS within {timeout:g} s; got {self.received!r:.400}")

    def hang_up(self, dialog: _Dialog) -> None:
        inv = dialog.invite
        headers = [("Via", f"SIP/2.0/TLS {self.host}:{self.port};branch=z9hG4bK{secrets.token_hex(6)}"),
                   ("Max-Forwards", "70"), ("From", f"{inv.need('To')};tag={dialog.tag}"),
                   ("To", inv.need("From")), ("Call-ID", inv.need("Call-ID")), ("CSeq", "1 BYE")]
        dialog.conn.sendall(sip.request("BYE", sip.uri_of(inv.need("Contact")), headers).encode())

    # --- calling back (client) ----------------------------------------------------------------------

    def call(self, target: tuple[str, int], number: str, *, talk_s: float = 0.5,
             timeout: float = 10.0) -> list[sip.SipMessage]:
        """One call-back to ``number`` at the gateway's TLS listener ``target``; the responses received."""
        ctx = self._context(server=False)
        raw = socket.create_connection(target, timeout=timeout)
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtp.bind((self.host, 0))
        try:
            conn = ctx.wrap_socket(raw, server_hostname=None)
        except OSError as exc:
            raw.close()
            rtp.close()
            raise UsageError(f"TLS handshake with {target[0]}:{target[1]}: {exc}") from None
        local = conn.getsockname()
        call_id = f"cb-{secrets.token_hex(6)}@psap.test"
        via = f"SIP/2.0/TLS {local[0]}:{local[1]};branch=z9hG4bK{secrets.token_hex(6)}"
        from_ = f"<sip:+15550911000@{self.host}>;tag={secrets.token_hex(4)}"
        to = f"<sip:{number}@{target[0]}:{target[1]};transport=tls>"
        sdp = sip.sdp_offer(self.host, int(rtp.getsockname()[1]), session_id=2)
        headers = [("Via", via), ("Max-Forwards", "70"), ("From", from_), ("To", to), ("Call-ID", call_id),
                   ("CSeq", "1 INVITE"), ("Contact", f"<sips:psap@{local[0]}:{local[1]}>"),
                   ("Content-Type", "application/sdp")]
        responses: list[sip.SipMessage] = []
        framer = sip.Framer()
        try:
            conn.sendall(sip.request("INVITE", f"sip:{number}@{target[0]}:{target[1]};transport=tls",
                                     headers, sdp).encode())
            conn.settimeout(timeout)
            final: sip.SipMessage | None = None
            while final is None:
                data = conn.recv(65536)
                if not data:
                    break
                for msg in framer.feed(data):
                    responses.append(msg)
                    if not msg.is_request and msg.status >= 200:
                        final = msg
            if final is None:
                return responses
            ack_headers = [("Via", via if final.status >= 300 else
                            f"SIP/2.0/TLS {local[0]}:{local[1]};branch=z9hG4bK{secrets.token_hex(6)}"),
                           ("Max-Forwards", "70"), ("From", from_), ("To", final.need("To")),
                           ("Call-ID", call_id), ("CSeq", "1 ACK")]
            conn.sendall(sip.request("ACK", f"sip:{number}@{target[0]}:{target[1]};transport=tls",
                                     ack_headers).encode())
            if final.status >= 300:
                return responses
            time.sleep(talk_s)
            bye = [("Via", f"SIP/2.0/TLS {local[0]}:{local[1]};branch=z9hG4bK{secrets.token_hex(6)}"),
                   ("Max-Forwards", "70"), ("From", from_), ("To", final.need("To")), ("Call-ID", call_id),
                   ("CSeq", "2 BYE")]
            remote = sip.uri_of(final.need("Contact"))
            conn.sendall(sip.request("BYE", remote, bye).encode())
            while not any(not m.is_request and m.cseq()[1] == "BYE" for m in responses):
                data = conn.recv(65536)
                if not data:
                    break
                responses.extend(framer.feed(data))
            return responses
        finally:
            conn.close()
            rtp.close()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=2)
        for d in self._dialogs.values():
            d.conn.close()
        if self._listener is not None:
            self._listener.close()
        if self._rtp is not None:
            self._rtp.close()

    def __enter__(self) -> TlsSipPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
