from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from roamline.provisioning.cardissue import VirtualCardKeys
from roamline.provisioning.enroll import (
    EnrollmentFailed,
    RegistryAddress,
    check_issued,
    enroll_box,
    enroll_over_link,
    parse_registry,
    read_ca,
    write_box_bundle,
)
from roamline.provisioning.errors import UsageError
from roamline.wire import identity
from roamline.wire.messages import Enroll, Enrolled, EnrollKind


def test_parse_registry() -> None:
    assert parse_registry("127.0.0.1:4433") == RegistryAddress("127.0.0.1", 4433, "registry.roamline")
    assert parse_registry("[::1]:9", "r.example") == RegistryAddress("::1", 9, "r.example")
    for bad in ("127.0.0.1", ":4433", "h:0", "h:70000", "h:x"):
        with pytest.raises(UsageError):
            parse_registry(bad)


def test_read_ca(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read"):
        read_ca(tmp_path / "nope.pem")
    (tmp_path / "junk.pem").write_text("hello")
    with pytest.raises(UsageError, match="not a certificate"):
        read_ca(tmp_path / "junk.pem")


def _issue(ca: identity.CertificateAuthority, key: identity.PrivateKey) -> Enrolled:
    box_id = identity.box_id_for_key(key.public_key())
    cert = ca.issue(role=identity.Role.BOX, subject_id=box_id, public_key=key.public_key(), now=time.time())
    pem = identity.certificate_pem(cert).decode()
    return Enrolled(cert_pem=pem, ca_cert_pem=ca.cert_pem.decode(), id=box_id)


def test_check_issued_refuses_what_is_not_ours() -> None:
    ca, rogue = (identity.CertificateAuthority.create(now=time.time()) for _ in range(2))
    key = identity.generate_key()
    good = _issue(ca, key)
    now = time.time()
    assert check_issued(good, ca.cert_pem, identity.Role.BOX, key.public_key(), now).id == good.id
    with pytest.raises(EnrollmentFailed, match="not the CA file"):
        check_issued(_issue(rogue, key), ca.cert_pem, identity.Role.BOX, key.public_key(), now)
    with pytest.raises(EnrollmentFailed, match="not for our key"):
        check_issued(good, ca.cert_pem, identity.Role.BOX, identity.generate_key().public_key(), now)
    with pytest.raises(EnrollmentFailed, match="issued certificate"):
        check_issued(good, ca.cert_pem, identity.Role.CARD, key.public_key(), now)
    lying = Enrolled(cert_pem=good.cert_pem, ca_cert_pem=good.ca_cert_pem, id="box-0000000000000000")
    with pytest.raises(EnrollmentFailed, match="registry said"):
        check_issued(lying, ca.cert_pem, identity.Role.BOX, key.public_key(), now)


def test_box_bundle_is_a_loadable_config(tmp_path: Path) -> None:
    from roamline.firmware.config import load_box_config

    ca = identity.CertificateAuthority.create(now=time.time())
    key = identity.generate_key()
    path = write_box_bundle(tmp_path / "b", key=key, enrolled=_issue(ca, key), ca_pem=ca.cert_pem,
                            address=RegistryAddress("127.0.0.1", 5000), box_name="kiosk", board="pi4-ag1171")
    cfg = load_box_config(path)
    assert (cfg.name, cfg.board, cfg.registry.port) == ("kiosk", "pi4-ag1171", 5000)
    assert cfg.registry.ca.read_bytes() == ca.cert_pem
    assert identity.load_private_key_pem(cfg.identity.key.read_bytes()).public_key() == key.public_key()
    assert (tmp_path / "b" / "box.key").stat().st_mode & 0o077 == 0
    # a second enrollment into the same folder would destroy an identity: refused
    with pytest.raises(UsageError, match="already holds"):
        addr = RegistryAddress("127.0.0.1", 1)
        asyncio.run(enroll_box(addr, ca.cert_pem, "t", tmp_path / "b", box_name="x"))


def test_unreachable_registry_is_a_clear_failure() -> None:
    ca = identity.CertificateAuthority.create(now=time.time())
    csr = identity.make_csr(identity.generate_key(), "x").decode()
    req = Enroll(token="t", csr_pem=csr, kind=EnrollKind.BOX)
    with pytest.raises(EnrollmentFailed):
        asyncio.run(enroll_over_link(RegistryAddress("127.0.0.1", 9), ca.cert_pem, req, timeout=0.5))


def test_virtual_card_keys() -> None:
    card = VirtualCardKeys("ab" * 16)
    csr, public = card.new_key_csr("9e")
    parsed = identity.load_csr(csr)
    assert parsed.public_key() == public
    with pytest.raises(UsageError):
        card.cardfile()  # no certificate yet
    with pytest.raises(UsageError):
        card.new_key_csr("9c")
    with pytest.raises(UsageError):
        VirtualCardKeys("XYZ")


@pytest.mark.parametrize("existing", [False, True])
def test_a_bundle_that_fails_part_way_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     existing: bool) -> None:
    from roamline.provisioning import enroll
    from roamline.wire.config import ConfigError

    def refuse(path: Path) -> None:
        raise ConfigError(f"{path}: simulated bad config")

    monkeypatch.setattr(enroll, "load_box_config", refuse)
    out = tmp_path / "b"
    if existing:
        out.mkdir()
        (out / "notes.txt").write_text("mine")
    ca = identity.CertificateAuthority.create(now=time.time())
    key = identity.generate_key()
    with pytest.raises(ConfigError):
        write_box_bundle(out, key=key, enrolled=_issue(ca, key), ca_pem=ca.cert_pem,
                         address=RegistryAddress("127.0.0.1", 5000), box_name="kiosk", board="sim")
    if existing:
        assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    else:
        assert not out.exists()


def test_the_bundle_carries_the_location_section_so_the_box_knows_it_with_no_cloud(tmp_path: Path) -> None:
    """Address(es), the line's own number and the emergency contacts land in box.toml's ``[location]``
    and ``[line]`` (911, 933 and PIDF-LO work from them with no cloud)."""
    from roamline.firmware.config import load_box_config

    ca = identity.CertificateAuthority.create(now=time.time())
    key = identity.generate_key()
    home = {"civic": {"country": "US", "A1": "IL", "A3": "Springfield", "RD": "Elm", "HNO": "12"},
            "method": "installer"}
    details = {"location": home, "line_number": "+12175551000",
               "emergency_contacts": ["ops@example.com", "https://hooks.example.com/e911"]}
    path = write_box_bundle(tmp_path / "b", key=key, enrolled=_issue(ca, key), ca_pem=ca.cert_pem,
                            address=RegistryAddress("127.0.0.1", 5000), box_name="kiosk", board="sim",
                            details=details)
    cfg = load_box_config(path)
    assert [a["civic"] for a in cfg.location.addresses] == [home["civic"]]
    assert cfg.line.number == "+12175551000"
    assert cfg.location.emergency_contacts == ("mailto:ops@example.com", "https://hooks.example.com/e911")
    # a contact that is no contact is refused when the box loads its configuration
    text = path.read_text().replace("https://hooks.example.com/e911", "ftp://x")
    path.write_text(text)
    with pytest.raises(Exception, match="ftp"):
        load_box_config(path)
