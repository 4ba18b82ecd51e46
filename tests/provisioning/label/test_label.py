"""Box labels, read back by independent tools: zbarimg decodes the QR code, pdftotext reads the PDF."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from roamline.cli.main import main
from roamline.provisioning.enroll import ENROLLMENT_RECORD, RegistryAddress, write_box_bundle
from roamline.provisioning.errors import UsageError
from roamline.provisioning.label import label_text, write_pdf
from roamline.wire import identity
from roamline.wire.messages import Enrolled

HOME = {"country": "US", "A1": "IL", "A3": "Springfield", "HNO": "12", "RD": "Elm Street", "FLR": "1",
        "ROOM": "101", "PC": "62701"}


def need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.fail(f"missing tools {missing}: run scripts/bootstrap.sh")


def bundle(out: Path, details: dict[str, Any]) -> str:
    now = time.time()
    ca = identity.CertificateAuthority.create(now=now)
    key = identity.generate_key()
    box_id = identity.box_id_for_key(key.public_key())
    cert = ca.issue(role=identity.Role.BOX, subject_id=box_id, public_key=key.public_key(), now=now)
    enrolled = Enrolled(cert_pem=identity.certificate_pem(cert).decode(), ca_cert_pem=ca.cert_pem.decode(),
                        id=box_id)
    write_box_bundle(out, key=key, enrolled=enrolled, ca_pem=ca.cert_pem, address=RegistryAddress("h", 1),
                     box_name="shop-front", board="pi4-ag1171", details=details)
    return box_id


def pdf_text(path: Path) -> str:
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True)
    return " ".join(out.stdout.split())


def qr_of_png(path: Path) -> str:
    done = subprocess.run(["zbarimg", "-q", "--raw", str(path)], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_the_label_of_an_enrolled_box(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    need("zbarimg", "pdftotext", "pdfimages")
    d = tmp_path / "box"
    box_id = bundle(d, {"line_number": "+15550100099", "location": {"civic": HOME, "method": "installer"},
                        "emergency_contacts": ["mailto:ops@example.com"]})
    record = json.loads((d / ENROLLMENT_RECORD).read_text())
    assert record["box_id"] == box_id and record["location"]["civic"] == HOME
    assert main(["provision", "box", "label", "--bundle", str(d)]) == 0
    labels = json.loads(capsys.readouterr().out)["labels"]
    assert labels == [str(d / "label.pdf"), str(d / "label.png")]
    assert qr_of_png(d / "label.png") == f"roamline:box:{box_id}"
    text = pdf_text(d / "label.pdf")
    address = "12 Elm Street, floor 1, room 101, Springfield IL 62701, US"
    for expected in (box_id, "+1 555-010-0099", "EMERGENCY 911", address, "POWER:", "backup battery"):
        assert expected in text, (expected, text)
    subprocess.run(["pdfimages", "-png", str(d / "label.pdf"), str(tmp_path / "img")], check=True)
    assert qr_of_png(tmp_path / "img-000.png") == f"roamline:box:{box_id}"


def test_any_script_and_no_address(tmp_path: Path) -> None:
    need("pdftotext")
    zurich = {"country": "CH", "A1": "ZH", "A3": "Zürich", "HNO": "7", "RD": "Bahnhofstraße"}
    text = label_text({"box_id": "box-0123456789abcdef", "location": {"civic": zurich}})
    write_pdf(text, tmp_path / "ch.pdf")
    got = pdf_text(tmp_path / "ch.pdf")
    assert "7 Bahnhofstraße" in got and "Zürich" in got and "EMERGENCY 112" in got
    assert "through the internet" in got  # no line recorded
    bare = label_text({"box_id": "box-0123456789abcdef"})
    assert "NO ADDRESS IS RECORDED" in bare.emergency and "say your address" in bare.emergency
    long = {**HOME, "NAM": "x" * 100, "LOC": "y" * 100, "RD": "Long " * 60}
    with pytest.raises(UsageError, match="does not fit"):
        write_pdf(label_text({"box_id": "box-0123456789abcdef", "location": {"civic": long}}),
                  tmp_path / "long.pdf")
    with pytest.raises(UsageError, match="box_id"):
        label_text({})


def test_label_command_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "box"
    bundle(d, {})
    assert main(["provision", "box", "label", "--bundle", str(d), "--out", str(tmp_path / "x.jpg")]) == 2
    assert "a label is .pdf or .png" in capsys.readouterr().err
    (d / ENROLLMENT_RECORD).unlink()
    assert main(["provision", "box", "label", "--bundle", str(d)]) == 2
    assert "no enrollment.json" in capsys.readouterr().err
