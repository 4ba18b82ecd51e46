"""Control-stream framing: a 4-byte big-endian length, then that many bytes of a UTF-8 JSON object.

Sans-I/O: :class:`FrameDecoder` is fed bytes and returns decoded :class:`Frame` objects. It checks the
envelope's shape (``v``, ``type``, ``id``, ``re``, ``body``); what the type and body mean is
``roamline.wire.messages``' business. After any error the decoder is closed for good: the adapter
answers with an ``error`` frame and closes the stream, since the byte stream can no longer be trusted.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

from roamline.wire.errors import FrameError, FrameTooLarge, MalformedFrame, UsageError

MAX_PAYLOAD = 65536
"""Largest JSON payload, in bytes, after the 4-byte length."""

MAX_ID_LENGTH = 64
_HEADER = struct.Struct(">I")
_ENVELOPE_KEYS = frozenset({"v", "type", "id", "re", "body"})


@dataclass(frozen=True, slots=True)
class Frame:
    """One control frame's envelope. ``body`` is a JSON object (not copied; treat it as read-only)."""

    v: int
    type: str
    body: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    re: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"v": self.v, "type": self.type}
        if self.id is not None:
            out["id"] = self.id
        if self.re is not None:
            out["re"] = self.re
        out["body"] = self.body
        return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_id(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ID_LENGTH or not value.isprintable():
        raise MalformedFrame(f"envelope field {name!r} must be a printable string, 1..{MAX_ID_LENGTH} chars")
    return value


def parse_payload(payload: bytes) -> Frame:
    """Decode one frame's payload (without the length prefix) into a Frame, or raise MalformedFrame."""
    if len(payload) > MAX_PAYLOAD:
        raise FrameTooLarge(f"frame payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedFrame("frame payload is not UTF-8") from None
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise MalformedFrame("frame payload is not JSON") from None
    if not isinstance(obj, dict):
        raise MalformedFrame("frame payload is not a JSON object")
    v = obj.get("v")
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise MalformedFrame("envelope field 'v' must be a non-negative integer")
    mtype = obj.get("type")
    if not isinstance(mtype, str) or not 1 <= len(mtype) <= 64 or not mtype.isprintable():
        raise MalformedFrame("envelope field 'type' must be a printable string of 1..64 chars")
    body = obj.get("body", {})
    if not isinstance(body, dict):
        raise MalformedFrame("envelope field 'body' must be a JSON object")
    extra = set(obj) - _ENVELOPE_KEYS
    if extra:
        raise MalformedFrame(f"unknown envelope field {sorted(extra)[0]!r}")
    rid, rre = _check_id("id", obj.get("id")), _check_id("re", obj.get("re"))
    return Frame(v=v, type=mtype, body=body, id=rid, re=rre)


def encode(frame: Frame) -> bytes:
    """Length-prefixed bytes for ``frame``. Raises UsageError if it would exceed MAX_PAYLOAD (our bug)."""
    try:
        payload = json.dumps(frame.to_json(), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"frame is not JSON-serialisable: {exc}") from None
    data = payload.encode("utf-8")
    if len(data) > MAX_PAYLOAD:
        raise UsageError(f"frame payload of {len(data)} bytes exceeds {MAX_PAYLOAD}")
    return _HEADER.pack(len(data)) + data


class FrameDecoder:
    """Feed stream bytes, get whole frames. Holds at most one frame's worth of bytes.

    ``feed`` raises a FrameError (FrameTooLarge or MalformedFrame) at the first bad frame, dropping good
    frames decoded earlier in the same chunk; adapters use ``feed_until_error`` to get both.
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        if not 0 < max_payload <= MAX_PAYLOAD:
            raise UsageError(f"max_payload must be in 1..{MAX_PAYLOAD}")
        self._max = max_payload
        self._buf = bytearray()
        self._need: int | None = None  # payload length once the header is read
        self._error: FrameError | None = None

    @property
    def closed(self) -> bool:
        """True once an error was found; every later feed raises that error again."""
        return self._error is not None

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame]:
        frames, error = self.feed_until_error(data)
        if error is not None:
            raise error
        return frames

    def feed_until_error(self, data: bytes) -> tuple[list[Frame], FrameError | None]:
        """Frames decoded from ``data`` and, if the stream went bad, the error (the decoder then closes)."""
        if self._error is not None:
            return [], self._error
        frames: list[Frame] = []
        view = memoryview(data)
        while True:
            if self._need is None:
                take = min(len(view), _HEADER.size - len(self._buf))
                self._buf += view[:take]
                view = view[take:]
                if len(self._buf) < _HEADER.size:
                    return frames, None
                (length,) = _HEADER.unpack(self._buf)
                self._buf.clear()
                if length > self._max:
                    self._error = FrameTooLarge(f"frame length {length} exceeds {self._max}")
                    return frames, self._error
                self._need = length
            take = min(len(view), self._need - len(self._buf))
            self._buf += view[:take]
            view = view[take:]
            if len(self._buf) < self._need:
                return frames, None
            payload = bytes(self._buf)
            self._buf.clear()
            self._need = None
            try:
                frames.append(parse_payload(payload))
            except FrameError as exc:
                self._error = exc
                return frames, exc
