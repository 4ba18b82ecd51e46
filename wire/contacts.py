"""Emergency notification contacts of a box (Kari's Law: who is told when someone dials 911 there).

A contact is an e-mail address (``mailto:`` optional) or a webhook URL (``https://``; plain ``http://``
only to a loopback address, for tests). Shared by the installer's tool, which records them at
enrollment, and the registry, which checks them again and stores them with the box.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from roamline.wire.errors import UsageError

MAX_CONTACTS = 10
EMAIL_MAX = 254
URL_MAX = 2048
_LOCAL_RE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN_RE = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})+")
_HOST_RE = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*")


def _email(text: str) -> str:
    address = text[len("mailto:"):] if text.lower().startswith("mailto:") else text
    local, at, domain = address.rpartition("@")
    if not at or len(address) > EMAIL_MAX or len(local) > 64:
        raise UsageError(f"emergency contact {text[:60]!r}: not an e-mail address or https:// URL")
    if _LOCAL_RE.fullmatch(local) is None or _DOMAIN_RE.fullmatch(domain) is None:
        raise UsageError(f"emergency contact {text[:60]!r}: not a valid e-mail address (name@domain.tld)")
    return f"mailto:{local}@{domain.lower()}"


def _webhook(text: str) -> str:
    if len(text) > URL_MAX or any(c.isspace() for c in text):
        raise UsageError(f"webhook {text[:60]!r}: at most {URL_MAX} characters, no spaces")
    try:
        url = urlsplit(text)
        host, port = url.hostname, url.port  # port raises ValueError when out of range
    except ValueError as exc:
        raise UsageError(f"webhook {text[:60]!r}: {exc}") from None
    if url.username is not None or url.password is not None:
        raise UsageError(f"webhook {text[:60]!r}: no credentials in the URL (use a secret path or header)")
    if not host:
        raise UsageError(f"webhook {text[:60]!r}: no host")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
        if _HOST_RE.fullmatch(host) is None:
            raise UsageError(f"webhook {text[:60]!r}: {host!r} is not a host name") from None
    if url.scheme == "http" and not (ip is not None and ip.is_loopback) and host != "localhost":
        raise UsageError(f"webhook {text[:60]!r}: must be https:// (http only to loopback)")
    if url.fragment:
        raise UsageError(f"webhook {text[:60]!r}: no #fragment")
    del port
    return text


def check_contact(text: str) -> str:
    """One contact in its canonical form (``mailto:…`` or the URL), or UsageError."""
    if not isinstance(text, str) or not text:
        raise UsageError("emergency contact must be an e-mail address or an https:// URL")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise UsageError("emergency contact must not contain control characters")
    scheme = text.split(":", 1)[0].lower() if ":" in text else ""
    if scheme in ("http", "https") and text.lower().startswith(scheme + "://"):
        return _webhook(text)
    if scheme and scheme != "mailto":
        raise UsageError(f"emergency contact {text[:60]!r}: only e-mail addresses and http(s) webhooks")
    return _email(text)


def check_contacts(contacts: object) -> list[str]:
    """A list of contacts (at most MAX_CONTACTS, no repeats), each checked."""
    if not isinstance(contacts, list | tuple):
        raise UsageError("emergency contacts must be a list")
    if len(contacts) > MAX_CONTACTS:
        raise UsageError(f"at most {MAX_CONTACTS} emergency contacts")
    out = [check_contact(c) if isinstance(c, str) else check_contact("") for c in contacts]
    if len(set(out)) != len(out):
        raise UsageError("an emergency contact is given twice")
    return out
