from __future__ import annotations

import pytest

from roamline.wire.identity import CertificateAuthority

NOW = 1_800_000_000.0


@pytest.fixture(scope="session")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create(now=NOW)


@pytest.fixture(scope="session")
def other_ca() -> CertificateAuthority:
    return CertificateAuthority.create(now=NOW, name="Not Roamline")
