"""SIP messages (RFC 3261), sans-I/O: strict, bounded parsing and building of exactly what the cloud's
emergency route speaks (INVITE, ACK, BYE, CANCEL and their responses), the SDP of one PCMU audio stream
(RFC 4566/3264) and the multipart body that carries SDP with the PIDF-LO by value (RFC 6442, RFC 2046).

Bounds: a message is at most :data:`MAX_MESSAGE` bytes (one UDP datagram), at most :data:`MAX_HEADERS`
header fields of at most :data:`MAX_LINE` bytes each; the body is exactly ``Content-Length`` bytes
(required). Anything else raises :class:`SipSyntaxError` (a PeerError) with a one-line reason: a UA
drops such a datagram and keeps going. :class:`Framer` cuts a byte stream (TCP, or a test feeding one
byte at a time) into messages by the same rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from roamline.wire.errors import PeerError, UsageError

MAX_MESSAGE = 16384
MAX_HEADERS = 64
MAX_LINE = 2048
SIP_VERSION = "SIP/2.0"
METHODS = ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS")
COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length",
           "c": "content-type", "k": "supported"}
_TOKEN = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+")
_STATUS = re.compile(r"SIP/2\.0 ([1-6][0-9]{2}) ([^\r\n]{0,200})")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"]{1,400}")


class SipSyntaxError(PeerError):
    """A SIP message (or its SDP/multipart body) that breaks the grammar or a bound."""


@dataclass(frozen=True, slots=True)
class SipMessage:
    """A request (``method`` and ``uri`` set, ``status`` 0) or a response (``status`` set). Header names
    keep their spelling; :meth:`get` and :meth:`all` look them up case-insensitively, compact forms too."""

    headers: tuple[tuple[str, str], ...]
    body: bytes = b""
    method: str = ""
    uri: str = ""
    status: int = 0
    reason: str = ""

    @property
    def is_request(self) -> bool:
        return self.status == 0

    def all(self, name: str) -> list[str]:
        want = _canon(name)
        return [v for k, v in self.headers if _canon(k) == want]

    def get(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def need(self, name: str) -> str:
        v = self.get(name)
        if v is None:
            raise SipSyntaxError(f"SIP message has no {name} header")
        return v

    def cseq(self) -> tuple[int, str]:
        parts = self.need("CSeq").split()
        if len(parts) != 2 or not parts[0].isdigit() or len(parts[0]) > 10 or parts[1] not in METHODS:
            raise SipSyntaxError("CSeq must be a number and a known method")
        return int(parts[0]), parts[1]

    def encode(self) -> bytes:
        start = (f"{self.method} {self.uri} {SIP_VERSION}" if self.is_request
                 else f"{SIP_VERSION} {self.status} {self.reason}")
        lines = [start]
        for k, v in self.headers:
            if _canon(k) != "content-length":
                lines.append(f"{k}: {v}")
        lines.append(f"Content-Length: {len(self.body)}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body
        if len(data) > MAX_MESSAGE:
            raise UsageError(f"SIP message of {len(data)} bytes exceeds {MAX_MESSAGE}")
        return data


def _canon(name: str) -> str:
    low = name.strip().lower()
    return COMPACT.get(low, low)


def request(method: str, uri: str, headers: list[tuple[str, str]], body: bytes = b"") -> SipMessage:
    if method not in METHODS or _URI.fullmatch(uri) is None:
        raise UsageError(f"not a SIP request line: {method} {uri[:60]}")
    return SipMessage(headers=tuple(headers), body=body, method=method, uri=uri)


def response(status: int, reason: str, headers: list[tuple[str, str]], body: bytes = b"") -> SipMessage:
    if not 100 <= status <= 699:
        raise UsageError(f"SIP status {status} is out of range")
    return SipMessage(headers=tuple(headers), body=body, status=status, reason=reason)


def parse(data: bytes) -> SipMessage:
    """One whole SIP message (a UDP datagram). SipSyntaxError on anything malformed or out of bounds."""
    if len(data) > MAX_MESSAGE:
        raise SipSyntaxError(f"SIP message of {len(data)} bytes exceeds {MAX_MESSAGE}")
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise SipSyntaxError("SIP message has no end of headers")
    msg = _parse_head(head)
    length = _content_length(msg)
    if len(body) != length:
        raise SipSyntaxError(f"SIP body is {len(body)} bytes, Content-Length says {length}")
    return SipMessage(msg.headers, body, msg.method, msg.uri, msg.status, msg.reason)


def _content_length(msg: SipMessage) -> int:
    raw = msg.get("Content-Length")
    if raw is None:
        raise SipSyntaxError("SIP message has no Content-Length")
    raw = raw.strip()
    if not raw.isdigit() or len(raw) > 6:
        raise SipSyntaxError("Content-Length must be a number")
    n = int(raw)
    if n > MAX_MESSAGE:
        raise SipSyntaxError(f"Content-Length {n} exceeds {MAX_MESSAGE}")
    return n


def _parse_head(head: bytes) -> SipMessage:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise SipSyntaxError("SIP headers are not UTF-8") from None
    lines = text.split("\r\n")
    if any("\n" in ln or "\r" in ln or "\x00" in ln for ln in lines):
        raise SipSyntaxError("SIP lines must end with CRLF and hold no NUL")
    start, rest = lines[0], lines[1:]
    if len(start) > MAX_LINE:
        raise SipSyntaxError("SIP start line too long")
    headers: list[tuple[str, str]] = []
    for ln in rest:
        if len(ln) > MAX_LINE:
            raise SipSyntaxError("SIP header line too long")
        if ln[:1] in (" ", "\t"):  # folded continuation (RFC 3261 §7.3.1)
            if not headers:
                raise SipSyntaxError("SIP continuation line before any header")
            k, v = headers[-1]
            headers[-1] = (k, " ".join(p for p in (v, ln.strip()) if p))  # blank folds add nothing
            continue
        name, colon, value = ln.partition(":")
        name = name.rstrip(" \t")
        if not colon or _TOKEN.fullmatch(name) is None:
            raise SipSyntaxError(f"bad SIP header line {ln[:40]!r}")
        headers.append((name, value.strip()))
        if len(headers) > MAX_HEADERS:
            raise SipSyntaxError(f"more than {MAX_HEADERS} SIP headers")
    m = _STATUS.fullmatch(start)
    if m is not None:
        return SipMessage(headers=tuple(headers), status=int(m.group(1)), reason=m.group(2))
    parts = start.split(" ")
    if len(parts) != 3 or parts[2] != SIP_VERSION:
        raise SipSyntaxError(f"bad SIP start line {start[:60]!r}")
    method, uri = parts[0], parts[1]
    if _TOKEN.fullmatch(method) is None or method.upper() != method:
        raise SipSyntaxError(f"bad SIP method {method[:20]!r}")
    if _URI.fullmatch(uri) is None:
        raise SipSyntaxError(f"bad Request-URI {uri[:60]!r}")
    return SipMessage(headers=tuple(headers), method=method, uri=uri)


@dataclass(slots=True)
class Framer:
    """Cuts a byte stream into SIP messages (``feed`` returns the messages completed by ``data``)."""

    _buf: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[SipMessage]:
        self._buf += data
        out: list[SipMessage] = []
        while True:
            while self._buf[:2] == b"\r\n":  # keep-alive CRLFs between messages (RFC 5626)
                del self._buf[:2]
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > MAX_MESSAGE:
                    raise SipSyntaxError(f"SIP headers exceed {MAX_MESSAGE} bytes")
                return out
            head = _parse_head(bytes(self._buf[:end]))
            total = end + 4 + _content_length(head)
            if total > MAX_MESSAGE:
                raise SipSyntaxError(f"SIP message exceeds {MAX_MESSAGE} bytes")
            if len(self._buf) < total:
                return out
            out.append(parse(bytes(self._buf[:total])))
            del self._buf[:total]


# --- header values ------------------------------------------------------------------------------------


def tag_of(value: str) -> str | None:
    """The ``tag`` parameter of a From/To value."""
    m = re.search(r";\s*tag=([^;>\s]+)", value.rpartition(">")[2] if ">" in value else value)
    return m.group(1) if m else None


def uri_of(value: str) -> str:
    """The URI of a name-addr (``"x" <sip:a@b>;tag=1``) or addr-spec value."""
    inner = (value.partition("<")[2].partition(">")[0] if "<" in value else value.split(";")[0]).strip()
    if _URI.fullmatch(inner) is None:
        raise SipSyntaxError(f"bad URI in {value[:60]!r}")
    return inner


def host_port(uri: str, default_port: int = 5060) -> tuple[str, int]:
    """(host, port) of a ``sip:`` URI (IPv4, IPv6 in brackets, or a name)."""
    m = re.fullmatch(r"sips?:(?:[^@;]+@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::([0-9]{1,5}))?(?:;.*)?", uri)
    if m is None:
        raise SipSyntaxError(f"not a sip URI with a host: {uri[:60]!r}")
    port = int(m.group(2)) if m.group(2) else default_port
    if not 0 < port < 65536:
        raise SipSyntaxError(f"bad port in {uri[:60]!r}")
    return m.group(1).strip("[]"), port


# --- SDP: one PCMU audio stream -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AudioOffer:
    """Where one side receives PCMU RTP, and the payload types it listed."""

    address: str
    port: int
    payload_types: tuple[int, ...] = (0,)


def sdp_offer(address: str, port: int, session_id: int) -> bytes:
    """Our offer: PCMU only (payload type 0), 20 ms packets, send and receive."""
    return (f"v=0\r\no=roamline {session_id} {session_id} IN IP4 {address}\r\ns=emergency call\r\n"
            f"c=IN IP4 {address}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
            "a=ptime:20\r\na=sendrecv\r\n").encode("ascii")


def parse_sdp(body: bytes) -> AudioOffer:
    """The audio stream of an SDP answer; SipSyntaxError unless it has an IPv4 address, an audio port and
    PCMU (payload type 0) among its formats."""
    if len(body) > MAX_MESSAGE:
        raise SipSyntaxError("SDP too long")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SipSyntaxError("SDP is not UTF-8") from None
    session_c: str | None = None
    media_c: str | None = None
    audio: tuple[int, tuple[int, ...]] | None = None
    in_audio = False
    for ln in text.replace("\r\n", "\n").split("\n"):
        if not ln:
            continue
        if len(ln) < 2 or ln[1] != "=":
            raise SipSyntaxError(f"bad SDP line {ln[:40]!r}")
        kind, value = ln[0], ln[2:]
        if kind == "m":
            parts = value.split()
            in_audio = False
            if len(parts) >= 4 and parts[0] == "audio" and audio is None:
                if not parts[1].isdigit() or not all(p.isdigit() and len(p) <= 3 for p in parts[3:]):
                    raise SipSyntaxError("bad SDP audio line")
                port = int(parts[1])
                if not 0 < port < 65536:
                    raise SipSyntaxError("bad SDP audio port")
                audio, in_audio = (port, tuple(int(p) for p in parts[3:])), True
        elif kind == "c":
            parts = value.split()
            if len(parts) != 3 or parts[0] != "IN" or parts[1] != "IP4":
                raise SipSyntaxError("SDP connection must be IN IP4")
            if re.fullmatch(r"[0-9]{1,3}(\.[0-9]{1,3}){3}", parts[2]) is None:
                raise SipSyntaxError("bad SDP connection address")
            if in_audio:
                media_c = parts[2]
            elif audio is None:
                session_c = parts[2]
    if audio is None:
        raise SipSyntaxError("SDP has no audio stream")
    address = media_c or session_c
    if address is None:
        raise SipSyntaxError("SDP has no connection address")
    if 0 not in audio[1]:
        raise SipSyntaxError("SDP audio does not offer PCMU")
    return AudioOffer(address, audio[0], audio[1])


# --- multipart/mixed (RFC 2046) ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Part:
    content_type: str
    body: bytes
    content_id: str | None = None  # without the angle brackets


def multipart(parts: list[Part], boundary: str) -> bytes:
    if re.fullmatch(r"[A-Za-z0-9'()+_,./:=?-]{1,70}", boundary) is None:
        raise UsageError("bad multipart boundary")
    out = bytearray()
    for p in parts:
        if f"--{boundary}".encode() in p.body:
            raise UsageError("multipart boundary occurs in a part")
        out += f"--{boundary}\r\nContent-Type: {p.content_type}\r\n".encode()
        if p.content_id is not None:
            out += f"Content-ID: <{p.content_id}>\r\n".encode()
        out += b"\r\n" + p.body + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out)


def parse_multipart(body: bytes, content_type: str) -> list[Part]:
    """The parts of a ``multipart/mixed; boundary=…`` body; SipSyntaxError when malformed."""
    m = re.search(r'boundary="?([A-Za-z0-9\'()+_,./:=?-]{1,70})"?', content_type)
    if not content_type.lower().startswith("multipart/") or m is None:
        raise SipSyntaxError("not a multipart content type with a boundary")
    delim = b"--" + m.group(1).encode()
    chunks = body.split(b"\r\n" + delim)
    if not chunks[0].startswith(delim):
        raise SipSyntaxError("multipart body does not start with its boundary")
    chunks[0] = chunks[0][len(delim):]
    if not chunks[-1].startswith(b"--"):
        raise SipSyntaxError("multipart body has no closing boundary")
    parts: list[Part] = []
    for chunk in chunks[:-1]:
        if not chunk.startswith(b"\r\n"):
            raise SipSyntaxError("multipart boundary line must end with CRLF")
        head, sep, content = chunk[2:].partition(b"\r\n\r\n")
        if not sep:
            raise SipSyntaxError("multipart part has no end of headers")
        fields = _parse_head(b"OPTIONS sip:part SIP/2.0\r\n" + head)  # the same header grammar
        ctype = fields.get("Content-Type")
        if ctype is None:
            raise SipSyntaxError("multipart part has no Content-Type")
        cid = fields.get("Content-ID")
        parts.append(Part(ctype, content, cid.strip().strip("<>") if cid else None))
    if len(parts) > 8:
        raise SipSyntaxError("too many multipart parts")
    return parts
