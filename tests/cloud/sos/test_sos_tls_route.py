"""The emergency route over SIP/TLS through real processes (issue 11; RFC 3261 §26, RFC 5630): `roamline box
run` (no line; handset attached), `roamline cloud serve --sos-tls-port 0` with its own SIP certificate,
and hil.sip_tls.TlsSipPeer as an answering point whose directory entry is `sips:` with its CA (Debian's
SIPp has no TLS, so SIPp cannot play this part).

The 911 call's INVITE reaches the answering point over TLS with the registry's certificate (mutual TLS)
and the PIDF-LO; a tone from the handset comes back through the answering point's echo; the hang-up is
a BYE over the connection. The directory's CA, imported while the registry runs, is picked up by its TLS
listener; the answering point's call-back over TLS then rings the box with no card, is answered from the
handset and hung up by the answering point; one with a certificate no directory CA issued gets no
answer at all; the emergency record names the answering point that called back, over TLS.
"""

from __future__ import annotations

import shutil
import ssl
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w

from roamline.hil.errors import UsageError as HilUsageError
from roamline.hil.rig import load_rig
from roamline.hil.rigrun import RigRunner, last_json, roamline
from roamline.hil.sip_tls import Credential, TlsSipPeer, fingerprint, make_certificate
from roamline.wire import sip

pytestmark = pytest.mark.skipif(shutil.which("sipp") is None, reason="the SIP test tools are not installed")

NUMBER = "+15550400004"

RIG = """
name = "sos-tls"
[cloud]
host = "127.0.0.1"
[[accounts]]
name = "dana"
numbers = ["+15550400004"]
[[cards]]
name = "dana-card"
account = "dana"
[[boxes]]
name = "box-c"
civic = { country = "US", A1 = "IL", A3 = "Shelbyville", HNO = "12", RD = "Mill Lane", PC = "62565" }
phone = { backend = "sim" }
"""


def der(cred: Credential) -> bytes:
    return ssl.PEM_cert_to_DER_cert(cred.cert_pem.decode("ascii"))


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RigRunner, Credential]]:
    tmp = Path(tmp_path_factory.mktemp("sos-tls"))
    (tmp / "rig.toml").write_text(RIG, encoding="utf-8")
    reg = make_certificate("registry SIP")  # as an ESInet credentialing agency would issue (any use)
    cert, key = reg.files(tmp, "registry-sip")
    runner = RigRunner(load_rig(tmp / "rig.toml"), tmp / "run",
                       registry_args=("--sos-tls-port", "0", "--sos-tls-cert", str(cert),
                                      "--sos-tls-key", str(key)))
    try:
        runner.workdir.mkdir(parents=True, exist_ok=True)
        runner.start_cloud()
        runner.enroll_boxes()
        box = runner.boxes["box-c"]
        cfg_path = box.dir / "box.toml"
        cfg = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
        cfg["link"] = {"request_timeout_s": 3.0, "backoff_initial_s": 0.2, "backoff_max_s": 1.0}
        cfg_path.write_text(tomli_w.dumps(cfg), encoding="utf-8")
        runner.start_boxes()
        yield runner, reg
    finally:
        runner.stop()


def test_911_and_the_call_back_over_tls_with_the_directorys_ca(
    setup: tuple[RigRunner, Credential], tmp_path: Path
) -> None:
    from roamline.hil.voicecheck import HandsetEnd, Probe, verify

    rig, reg = setup
    assert rig.sos_sips is not None and rig.registry is not None
    ca = make_certificate("county CA", ca=True)
    county = make_certificate("county psap", issuer=ca)
    (tmp_path / "county-ca.pem").write_bytes(ca.cert_pem)
    mark = rig.box_log_mark("box-c")
    rig.insert("dana-card", "box-c")
    rig.wait_box_event("box-c", "registered", mark)
    reg_mark = rig.registry.mark()
    with TlsSipPeer(county, trust=reg.cert_pem).serve() as peer:
        f = tmp_path / "psaps.csv"
        f.write_text("name,uri,lat,lon,radius_m,country,A1,A3,callback_from,tls_fingerprint,tls_ca\n"
                     f"county,{peer.uri},,,,,,,127.0.0.1/32,,county-ca.pem\n", encoding="utf-8")
        roamline("cloud", "psap", "import", str(f), "--data", str(rig.cloud_dir), "--json")
        phone = rig.handset("box-c")
        try:
            phone.lift()
            phone.key_dtmf("911")
            rig.wait_box_event("box-c", r"call\.answered", mark, timeout=15)
            time.sleep(1.0)
            hs = HandsetEnd(phone, workdir=tmp_path)
            echoed = verify(hs, hs, Probe("tone", hz=1004.0, seconds=1.0), settle_s=1.0)
            assert echoed.ok, echoed  # the handset's tone reached the answering point and came back
        finally:
            m2 = rig.box_log_mark("box-c")
            phone.hang_up()
            rig.wait_box_event("box-c", "on-hook", m2, timeout=10)
        (invite,) = peer.invites()
        assert invite.uri == "urn:service:sos" and invite.need("Via").startswith("SIP/2.0/TLS ")
        assert invite.need("Geolocation").startswith("<cid:") and "Shelbyville" in invite.body.decode()
        assert invite.need("P-Asserted-Identity") == f"<tel:{NUMBER}>"
        assert peer.client_certs[0] == der(reg)  # mutual TLS with the registry's SIP certificate
        for _ in range(50):
            if any(m.startswith("BYE ") for m in peer.received):
                break
            time.sleep(0.1)
        assert any(m.startswith("BYE ") for m in peer.received), peer.received[-3:]
        rig.remove("dana-card")  # no card in the box from now on
        rig.registry.wait_for("sos-tls-cas", timeout=15, after=reg_mark)  # the imported CA is trusted

        sips = rig.sos_sips.rsplit(":", 1)
        target = (sips[0], int(sips[1]))
        got: list[sip.SipMessage] = []
        mark = rig.box_log_mark("box-c")
        calling = threading.Thread(
            target=lambda: got.extend(peer.call(target, NUMBER, talk_s=1.0, timeout=20)))
        calling.start()
        phone = rig.handset("box-c")
        try:
            rig.wait_box_event("box-c", r"call\.ringing", mark, timeout=15)  # with no card in the box
            phone.lift()
            calling.join(timeout=30)
        finally:
            m2 = rig.box_log_mark("box-c")
            phone.hang_up()
            rig.wait_box_event("box-c", "on-hook", m2, timeout=10)
        statuses = [(m.status, m.cseq()[1]) for m in got]
        assert statuses[:3] == [(100, "INVITE"), (180, "INVITE"), (200, "INVITE")], statuses
        assert statuses[-1] == (200, "BYE")  # the answering point hung up; the registry said OK

        stranger = TlsSipPeer(make_certificate("not in the directory"), trust=reg.cert_pem)
        try:
            refused = stranger.call(target, NUMBER, timeout=5)
        except (HilUsageError, OSError):
            refused = []
        assert refused == []  # the TLS handshake refused its certificate: no SIP at all

    (record,) = last_json(roamline("cloud", "emergencies", "--data", str(rig.cloud_dir), "--json"))
    assert [(c["psap"], c["transport"], c["status"]) for c in record["callbacks"]] == [("county", "tls", 180)]
    calls = list(last_json(roamline("cloud", "calls", "--data", str(rig.cloud_dir), "--json")))
    assert [c["outcome"] for c in calls if c["route"] == "sos-callback"] == ["answered"]
    assert [c["line"] for c in calls if c["route"] == "sos"] == [peer.uri]


def test_an_answering_point_whose_tls_certificate_is_wrong_passes_the_911_to_the_next(
    setup: tuple[RigRunner, Credential], tmp_path: Path
) -> None:
    """Emergency calls are never blocked: a TLS entry that fails its check is a failed answering point,
    and the next one of the directory (here SIPp over UDP) takes the call."""
    from roamline.hil.sipp import SippPeer

    rig, reg = setup
    impostor = make_certificate("not the county")
    expected = make_certificate("the county's real certificate")
    here = Path(__file__).parent
    with TlsSipPeer(impostor, trust=reg.cert_pem).serve() as peer, \
            SippPeer(here / "psap_uas.xml", tmp_path / "sipp") as backup:
        f = tmp_path / "psaps.csv"
        f.write_text("name,uri,lat,lon,radius_m,country,A1,A3,callback_from,tls_fingerprint,tls_ca\n"
                     f"county,{peer.uri},,,,US,IL,,,{fingerprint(expected)},\n"
                     f"backup,{backup.uri},,,,,,,,,\n", encoding="utf-8")
        roamline("cloud", "psap", "import", str(f), "--data", str(rig.cloud_dir), "--json")
        mark = rig.box_log_mark("box-c")
        rig.insert("dana-card", "box-c")  # a call-back number for the INVITE (SIPp's scenario wants one)
        rig.wait_box_event("box-c", "registered", mark)
        phone = rig.handset("box-c")
        try:
            phone.lift()
            phone.key_dtmf("911")
            rig.wait_box_event("box-c", r"call\.answered", mark, timeout=20)
            time.sleep(0.5)
        finally:
            m2 = rig.box_log_mark("box-c")
            phone.hang_up()
            rig.wait_box_event("box-c", "on-hook", m2, timeout=10)
        assert backup.wait(timeout=20) == 0, backup.output()[-3000:]
        assert peer.invites() == []  # the impostor got a TLS handshake, never the INVITE
        rig.remove("dana-card")
    assert rig.registry is not None
    assert any("sos-failover" in line and "sips:" in line for line in rig.registry.output())
    calls = list(last_json(roamline("cloud", "calls", "--data", str(rig.cloud_dir), "--json")))
    assert [c["line"] for c in calls if c["route"] == "sos"][-1] == backup.uri  # recorded where it went
