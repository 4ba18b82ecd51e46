"""Input validation shared by every room: argparse ``type=`` validators and the checks behind them.

Every command option is declared with one of these validators (or argparse ``choices`` / a flag), so
every value a user types is checked before a command acts, with a one-line reason. A validator is a
:class:`Validator` object; its ``kind`` names the class of input (``tests/cli/test_bad_input.py``
enumerates every command's options by that declared type, so an option without one fails the suite).

The rules (also in docs/operator.md, "What the commands accept"):

- **numbers**: finite decimal numbers (no NaN, no infinity) within the option's range; counts are
  integers; durations are > 0 seconds where zero is meaningless.
- **ports**: integers 1–65535 (0 only where it means "any free port").
- **identifiers** (account, box and card ids): 1–64 ASCII letters, digits, ``.``, ``_``, ``-``, starting
  with a letter or digit.
- **display names** (holders, boxes, readers): 1–64 characters after trimming spaces, any printable
  Unicode, no control or format characters, no line breaks.
- **phone numbers**: E.164 as ``+`` and digits only (``+15551234567``), with a country calling code
  and a length that the country's numbering plan allows (checked with ``phonenumbers``). Whether the
  number is assigned is not checked: the fictional 555 numbers of tests and demos are accepted.
- **paths**: never empty (an empty path would mean the current directory); files that must exist
  must be regular, readable files; directories that must exist must be directories; new files and
  directories need an existing parent directory.
- **PEM certificates**: a readable file holding at least one X.509 certificate in PEM.
- **host names**: DNS names (RFC 1123 labels, case-insensitive, stored in lower case) or IP literals.
- **civic addresses**: see :mod:`roamline.wire.civic`.

The check functions (``check_*``) raise this room's :class:`UsageError`; the validators turn that into
:class:`argparse.ArgumentTypeError`, which argparse reports against the option's name.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import math
import os
import re
import stat
import unicodedata
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

from roamline.wire.errors import UsageError

IDENTIFIER_MAX = 64
NAME_MAX = 64
_IDENTIFIER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_E164_RE = re.compile(r"\+[1-9][0-9]{1,14}")
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_DNS_RE = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*")
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{8,128}")
SERIAL_URL_SCHEMES = ("loop", "socket", "rfc2217", "spy", "alt", "hwgrep", "cp2110")


def show(text: str, limit: int = 40) -> str:
    """A typed value, quoted and escaped for a one-line message (long values are cut)."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


class Validator:
    """An argparse ``type=``: converts one command-line string, or raises ArgumentTypeError."""

    kind: ClassVar[str] = ""
    __name__ = "value"  # argparse names the type in some messages

    def check(self, text: str) -> Any:
        raise NotImplementedError

    def __call__(self, text: str) -> Any:
        try:
            return self.check(text)
        except UsageError as exc:
            raise argparse.ArgumentTypeError(str(exc).splitlines()[0]) from None

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not callable(v))
        return f"{type(self).__name__}({fields})"


# --- numbers -------------------------------------------------------------------------------------


def check_number(text: str, *, lo: float | None = None, hi: float | None = None, lo_open: bool = False,
                 integer: bool = False, base: int = 10, unit: str = "") -> float | int:
    what = "an integer" if integer else "a number"
    rng = _range_text(lo, hi, lo_open)
    wanted = f"{what}{' of ' + unit if unit else ''}{' ' + rng if rng else ''}"
    s = text.strip()
    value: float | int
    try:
        value = int(s, base) if integer else float(s)
    except ValueError:
        raise UsageError(f"must be {wanted}, not {show(text)}") from None
    if not math.isfinite(value):
        raise UsageError(f"must be {wanted} (finite), not {show(text)}")
    if lo is not None and (value <= lo if lo_open else value < lo):
        raise UsageError(f"must be {wanted}, not {show(text)}")
    if hi is not None and value > hi:
        raise UsageError(f"must be {wanted}, not {show(text)}")
    return value


def _range_text(lo: float | None, hi: float | None, lo_open: bool) -> str:
    def g(x: float) -> str:
        return str(int(x)) if float(x).is_integer() else f"{x:g}"

    if lo is not None and hi is not None:
        return f"{'>' if lo_open else 'from'} {g(lo)} {'and ≤' if lo_open else 'to'} {g(hi)}"
    if lo is not None:
        return f"{'>' if lo_open else '≥'} {g(lo)}"
    if hi is not None:
        return f"≤ {g(hi)}"
    return ""


class Number(Validator):
    """A finite number (or integer) in [lo, hi], or (lo, hi] with ``lo_open``."""

    kind = "number"

    def __init__(self, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
                 integer: bool = False, base: int = 10, unit: str = "") -> None:
        self.lo, self.hi, self.lo_open = lo, hi, lo_open
        self.integer, self.base, self.unit = integer, base, unit

    def check(self, text: str) -> float | int:
        return check_number(text, lo=self.lo, hi=self.hi, lo_open=self.lo_open, integer=self.integer,
                            base=self.base, unit=self.unit)


def seconds(hi: float = 7 * 86400.0) -> Number:
    """A duration in seconds: > 0 and at most ``hi``."""
    return Number(0.0, hi, lo_open=True, unit="seconds")


def count(lo: int = 1, hi: int = 1_000_000) -> Number:
    return Number(lo, hi, integer=True)


def check_port(text: str, *, allow_zero: bool = False, base: int = 10) -> int:
    lo = 0 if allow_zero else 1
    try:
        value = int(text.strip(), base)
    except ValueError:
        value = -1
    if not lo <= value <= 65535:
        extra = " (0: any free port)" if allow_zero else ""
        raise UsageError(f"must be a port number {lo}–65535{extra}, not {show(text)}")
    return value


class Port(Validator):
    kind = "port"

    def __init__(self, *, allow_zero: bool = False, base: int = 10) -> None:
        self.allow_zero, self.base = allow_zero, base

    def check(self, text: str) -> int:
        return check_port(text, allow_zero=self.allow_zero, base=self.base)


# --- identifiers, names, numbers people dial, secrets --------------------------------------------


def check_identifier(text: str, max_len: int = IDENTIFIER_MAX) -> str:
    if not (0 < len(text) <= max_len) or _IDENTIFIER_RE.fullmatch(text) is None:
        raise UsageError(f"must be an identifier: 1–{max_len} ASCII letters, digits, '.', '_' or '-', "
                         f"starting with a letter or digit; not {show(text)}")
    return text


class Identifier(Validator):
    kind = "identifier"

    def __init__(self, max_len: int = IDENTIFIER_MAX) -> None:
        self.max_len = max_len

    def check(self, text: str) -> str:
        return check_identifier(text, self.max_len)


def check_display_name(text: str, max_len: int = NAME_MAX) -> str:
    name = text.strip(" ")
    bad = [c for c in name if unicodedata.category(c)[0] == "C" or unicodedata.category(c) in ("Zl", "Zp")]
    if bad:
        raise UsageError(f"must be printable text (no control characters or line breaks), not {show(text)}")
    if not name:
        raise UsageError("must not be empty")
    if len(name) > max_len:
        raise UsageError(f"must be at most {max_len} characters, not {len(name)}")
    return name


class DisplayName(Validator):
    kind = "name"

    def __init__(self, max_len: int = NAME_MAX) -> None:
        self.max_len = max_len

    def check(self, text: str) -> str:
        return check_display_name(text, self.max_len)


def check_e164(text: str) -> str:
    """``+15551234567``: E.164, a known country calling code and a length its numbering plan allows."""
    import phonenumbers

    if _E164_RE.fullmatch(text) is None:
        raise UsageError(f"must be an E.164 number ('+' and up to 15 digits, like +15551234567), "
                         f"not {show(text)}")
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise UsageError(f"{show(text)} has no known country calling code") from None
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason == phonenumbers.ValidationResult.INVALID_COUNTRY_CODE:
        raise UsageError(f"{show(text)} has no known country calling code")
    if reason not in (phonenumbers.ValidationResult.IS_POSSIBLE,):
        why = {phonenumbers.ValidationResult.TOO_SHORT: "too short",
               phonenumbers.ValidationResult.TOO_LONG: "too long"}.get(reason, "of a length not in use")
        region = phonenumbers.region_code_for_country_code(number.country_code or 0)
        raise UsageError(f"{show(text)} is {why} for country code +{number.country_code} ({region})")
    if phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) != text:
        raise UsageError(f"{show(text)} is not in canonical E.164 form")
    return text


class Phone(Validator):
    kind = "phone"

    def check(self, text: str) -> str:
        return check_e164(text)


class Digits(Validator):
    """A number as the exchange simulator dials it: 3–15 digits, optionally after '+'."""

    kind = "digits"

    def check(self, text: str) -> str:
        if re.fullmatch(r"\+?[0-9]{3,15}", text) is None:
            raise UsageError(f"must be a number of 3–15 digits (optionally after '+'), not {show(text)}")
        return text


class Token(Validator):
    """An installer token as `roamline cloud token issue` prints it (URL-safe characters)."""

    kind = "token"

    def check(self, text: str) -> str:
        if _TOKEN_RE.fullmatch(text) is None:
            raise UsageError(f"must be an installer token (8–128 letters, digits, '_' or '-'), "
                             f"not {show(text)}")
        return text


class Pin(Validator):
    kind = "pin"

    def check(self, text: str) -> str:
        if not (6 <= len(text) <= 8) or not text.isascii() or not text.isdigit():
            raise UsageError("must be 6–8 digits")  # never echo a PIN
        return text


class HexId(Validator):
    """``length`` hex digits (a card's GUID: 32), returned in lower case."""

    kind = "hex"

    def __init__(self, length: int = 32) -> None:
        self.length = length

    def check(self, text: str) -> str:
        if len(text) != self.length or re.fullmatch(r"[0-9A-Fa-f]+", text) is None:
            raise UsageError(f"must be {self.length} hex digits, not {show(text)}")
        return text.lower()


# --- hosts ----------------------------------------------------------------------------------------


def check_dns_name(text: str) -> str:
    name = text.lower()
    if _DNS_RE.fullmatch(name) is None:
        raise UsageError(f"must be a DNS name (letters, digits, '-' in dot-separated labels), "
                         f"not {show(text)}")
    return name


def check_host(text: str) -> str:
    """A DNS name (lower-cased) or an IP literal (``[v6]`` brackets allowed)."""
    literal = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return str(ipaddress.ip_address(literal))
    except ValueError:
        pass
    try:
        return check_dns_name(text)
    except UsageError:
        raise UsageError(f"must be a host name or IP address, not {show(text)}") from None


class DnsName(Validator):
    kind = "dnsname"

    def check(self, text: str) -> str:
        return check_dns_name(text)


class Host(Validator):
    kind = "host"

    def check(self, text: str) -> str:
        return check_host(text)


def check_host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise UsageError(f"must be HOST:PORT ([v6]:PORT for IPv6), not {show(text)}")
    try:
        return check_host(host), check_port(port)
    except UsageError as exc:
        raise UsageError(f"HOST:PORT: {exc}") from None


class HostPort(Validator):
    """``HOST:PORT``; returns the text as typed (callers parse it again into their own types)."""

    kind = "hostport"

    def check(self, text: str) -> str:
        check_host_port(text)
        return text


# --- paths ----------------------------------------------------------------------------------------


def _path(text: str) -> Path:
    if not text.strip():
        raise UsageError("must be a path, not empty (an empty path would mean the current directory)")
    if "\x00" in text:
        raise UsageError(f"must be a path, not {show(text)}")
    return Path(text)


def _stat(p: Path) -> os.stat_result | None:
    try:
        return p.stat()
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        raise UsageError(f"{show(str(p))}: a part of the path is not a directory") from None
    except OSError as exc:
        raise UsageError(f"{show(str(p))}: {exc.strerror or exc}") from None


def check_existing_file(text: str) -> Path:
    p = _path(text)
    st = _stat(p)
    if st is None:
        raise UsageError(f"{show(text)}: no such file")
    if stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{show(text)}: is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{show(text)}: not a regular file")
    if not os.access(p, os.R_OK):
        raise UsageError(f"{show(text)}: not readable")
    return p


class ExistingFile(Validator):
    kind = "file"

    def check(self, text: str) -> Path:
        return check_existing_file(text)


class PemCertificate(Validator):
    """A file holding at least one X.509 certificate in PEM (e.g. the Roamline CA)."""

    kind = "pem"

    def check(self, text: str) -> Path:
        from cryptography import x509

        p = check_existing_file(text)
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise UsageError(f"{show(text)}: cannot read: {exc.strerror or exc}") from None
        try:
            certs = x509.load_pem_x509_certificates(data)
        except ValueError:
            certs = []
        if not certs:
            raise UsageError(f"{show(text)}: not a PEM certificate file (no '-----BEGIN CERTIFICATE-----')")
        return p


class ExistingDir(Validator):
    """A directory that must exist; with ``marker``, one that holds that file (e.g. registry.db)."""

    kind = "dir"

    def __init__(self, marker: str | None = None, hint: str = "") -> None:
        self.marker, self.hint = marker, hint

    def check(self, text: str) -> Path:
        p = _path(text)
        st = _stat(p)
        hint = f" ({self.hint.format(path=text)})" if self.hint else ""
        if st is None:
            raise UsageError(f"{show(text)}: no such directory{hint}")
        if not stat.S_ISDIR(st.st_mode):
            raise UsageError(f"{show(text)}: not a directory")
        if self.marker is not None and _stat(p / self.marker) is None:
            raise UsageError(f"{show(text)}: no {self.marker} in it{hint}")
        return p


class AnyDir(ExistingDir):
    """Any directory that exists (a working directory the command fills, e.g. a boot-state directory)."""

    kind = "anydir"

    def __init__(self) -> None:
        super().__init__()


class NewDir(Validator):
    """A directory to use or create: if it exists it is a directory; if not, it can be made (the
    nearest existing ancestor is a directory). Nothing is created while checking."""

    kind = "outdir"

    def check(self, text: str) -> Path:
        p = _path(text)
        st = _stat(p)
        if st is not None:
            if not stat.S_ISDIR(st.st_mode):
                raise UsageError(f"{show(text)}: exists and is not a directory")
            return p
        for ancestor in p.absolute().parents:
            up = _stat(ancestor)
            if up is not None:
                if not stat.S_ISDIR(up.st_mode):
                    raise UsageError(f"{show(text)}: {show(str(ancestor))} is not a directory")
                break
        return p


class NewFile(Validator):
    """A file to write: not a directory, in an existing directory; with ``overwrite=False`` not existing."""

    kind = "outfile"

    def __init__(self, *, overwrite: bool = False) -> None:
        self.overwrite = overwrite

    def check(self, text: str) -> Path:
        p = _path(text)
        st = _stat(p)
        if st is not None:
            if stat.S_ISDIR(st.st_mode):
                raise UsageError(f"{show(text)}: is a directory, not a file")
            if not self.overwrite:
                raise UsageError(f"{show(text)}: exists (refusing to overwrite it)")
        parent = _stat(p.absolute().parent)
        if parent is None or not stat.S_ISDIR(parent.st_mode):
            raise UsageError(f"{show(text)}: its directory does not exist")
        return p


class Socket(Validator):
    """A Unix socket that must exist (a running service's control socket)."""

    kind = "socket"

    def __init__(self, hint: str = "") -> None:
        self.hint = hint

    def check(self, text: str) -> Path:
        p = _path(text)
        st = _stat(p)
        hint = f" ({self.hint})" if self.hint else ""
        if st is None:
            raise UsageError(f"{show(text)}: no such socket{hint}")
        if not stat.S_ISSOCK(st.st_mode):
            raise UsageError(f"{show(text)}: not a socket")
        return p


class Device(Validator):
    """A serial device that exists (e.g. /dev/ttyACM0 or a pty link) or a pyserial URL (socket://…)."""

    kind = "device"

    def check(self, text: str) -> str:
        scheme, sep, _ = text.partition("://")
        if sep and re.fullmatch(r"[a-z0-9]+", scheme):
            if scheme not in SERIAL_URL_SCHEMES:
                raise UsageError(f"{show(text)}: not a serial URL scheme ({', '.join(SERIAL_URL_SCHEMES)})")
            return text
        p = _path(text)
        st = _stat(p)
        if st is None:
            raise UsageError(f"{show(text)}: no such device")
        if stat.S_ISDIR(st.st_mode):
            raise UsageError(f"{show(text)}: is a directory, not a device")
        return text


# --- names from a known set, structured text ------------------------------------------------------


class OneOf(Validator):
    """One of a set of names known at run time (board profiles, modem profiles); ``what`` says which."""

    kind = "oneof"

    def __init__(self, what: str, names: Callable[[], Iterable[str]]) -> None:
        self.what, self.names = what, names

    def check(self, text: str) -> str:
        known = sorted(self.names())
        if text not in known:
            raise UsageError(f"no {self.what} {show(text)} (known: {', '.join(known)})")
        return text


class FileOrName(Validator):
    """A file (it must exist) or one of a set of names (e.g. rigs shipped with the package)."""

    kind = "fileorname"

    def __init__(self, what: str, names: Callable[[], Iterable[str]]) -> None:
        self.what, self.names = what, names

    def check(self, text: str) -> str:
        if text in set(self.names()):
            return text
        if "/" in text or text.endswith(".toml"):
            check_existing_file(text)
            return text
        known = ", ".join(sorted(self.names()))
        raise UsageError(f"no {self.what} {show(text)} (a file, or one of: {known})")


class JsonObject(Validator):
    kind = "json"

    def check(self, text: str) -> dict[str, Any]:
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"not JSON: {exc}") from None
        if not isinstance(value, dict):
            raise UsageError(f"must be a JSON object ({{...}}), not {show(text)}")
        return value


class NumberList(Validator):
    """Comma-separated numbers, each checked like :class:`Number` (e.g. a ring cadence ``2,4``)."""

    kind = "numbers"

    def __init__(self, item: Number, max_items: int = 16) -> None:
        self.item, self.max_items = item, max_items

    def check(self, text: str) -> tuple[float | int, ...]:
        items = text.split(",")
        if not text.strip() or len(items) > self.max_items:
            raise UsageError(f"must be 1–{self.max_items} comma-separated numbers, not {show(text)}")
        return tuple(self.item.check(x) for x in items)


class Parsed(Validator):
    """Structured text parsed by the owning room's parser (which raises a UsageError on bad input)."""

    kind = "spec"

    def __init__(self, what: str, parse: Callable[[str], Any], example: str, max_len: int = 4096) -> None:
        self.what, self.parse, self.example, self.max_len = what, parse, example, max_len

    def check(self, text: str) -> Any:
        if not text.strip():
            raise UsageError(f"{self.what} must not be empty")
        if len(text) > self.max_len or any(unicodedata.category(c)[0] == "C" for c in text):
            raise UsageError(f"{self.what}: not printable text of at most {self.max_len} characters")
        try:
            return self.parse(text)
        except Exception as exc:  # the room's own parser error: a refusal of this value, in one line
            first = str(exc).splitlines()[0] if str(exc) else f"bad {self.what} {show(text)}"
            raise UsageError(first) from None
