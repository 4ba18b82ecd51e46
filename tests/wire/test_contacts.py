from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roamline.wire.contacts import MAX_CONTACTS, check_contact, check_contacts
from roamline.wire.errors import UsageError


@pytest.mark.parametrize(("text", "canonical"), [
    ("ops@example.com", "mailto:ops@example.com"),
    ("mailto:Night.Desk+911@Example.ORG", "mailto:Night.Desk+911@example.org"),
    ("https://hooks.example.com/e911/abc?x=1", "https://hooks.example.com/e911/abc?x=1"),
    ("https://10.0.0.5:8443/hook", "https://10.0.0.5:8443/hook"),
    ("http://127.0.0.1:9000/hook", "http://127.0.0.1:9000/hook"),
    ("http://localhost/hook", "http://localhost/hook"),
])
def test_good_contacts(text: str, canonical: str) -> None:
    assert check_contact(text) == canonical


@pytest.mark.parametrize(("text", "why"), [
    ("", "e-mail address or an https"),
    ("ops", "not an e-mail address"),
    ("ops@localhost", "not a valid e-mail"),
    ("a b@example.com", "not a valid e-mail"),
    ("ops@exa_mple.com", "not a valid e-mail"),
    ("x" * 65 + "@example.com", "not an e-mail"),
    ("http://hooks.example.com/x", "must be https"),
    ("https://user:pw@hooks.example.com/x", "no credentials"),
    ("https:///x", "no host"),
    ("https://bad_host/x", "not a host name"),
    ("https://h.example:99999/x", "webhook"),
    ("https://h.example/x y", "no spaces"),
    ("https://h.example/x#frag", "fragment"),
    ("ftp://h.example/x", "only e-mail addresses"),
    ("ops@example.com\n", "control characters"),
])
def test_bad_contacts(text: str, why: str) -> None:
    with pytest.raises(UsageError, match=why):
        check_contact(text)


def test_lists() -> None:
    assert check_contacts(["a@example.com", "https://h.example/x"]) == ["mailto:a@example.com",
                                                                        "https://h.example/x"]
    with pytest.raises(UsageError, match="twice"):
        check_contacts(["a@example.com", "mailto:A@EXAMPLE.com".replace("A@", "a@")])
    with pytest.raises(UsageError, match="at most"):
        check_contacts([f"a{i}@example.com" for i in range(MAX_CONTACTS + 1)])
    for bad in ("a@example.com", None, [1]):
        with pytest.raises(UsageError):
            check_contacts(bad)


@given(st.text(max_size=80))
def test_any_text_is_a_contact_or_refused(text: str) -> None:
    try:
        canonical = check_contact(text)
    except UsageError as exc:
        assert "\n" not in str(exc)
        return
    assert check_contact(canonical) == canonical  # canonical forms are fixed points
    assert canonical.startswith(("mailto:", "https://", "http://"))
