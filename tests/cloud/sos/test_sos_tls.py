"""SIP over TLS on the emergency route (RFC 3261 §26, RFC 5630), cloud.sos_gateway on real TLS connections
with hil.sip_tls.TlsSipPeer as the answering point (Debian's SIPp 3.6.1 has no TLS: `sipp -t l1` says
"To use a TLS transport you must compile SIPp with OpenSSL").

The emergency INVITE to a sips: answering point goes over TLS (Via TLS, sips: Contact, the PIDF-LO by
value), the gateway presents the registry's certificate (mutual TLS) and checks the answering point's
against the directory's fingerprint or CA — a wrong one fails the dial; RTP is echoed; a BYE over the
connection ends the call. A call-back over TLS carries the verified client certificate to the owner,
which answers or refuses 403 by the directory (cloud.psap.callback_source); a certificate no directory
CA issued never gets past the handshake."""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamline.cloud import psap, sos_uas
from roamline.cloud.errors import UsageError
from roamline.cloud.records import AnsweringPoint
from roamline.cloud.sos_gateway import PeerTrust, SosGateway, TlsSetup
from roamline.cloud.sos_uac import Event
from roamline.hil.errors import UsageError as HilUsageError
from roamline.hil.sip_tls import Credential, TlsSipPeer, fingerprint, make_certificate
from roamline.wire import media, sip

PIDF = (b"<?xml version='1.0' encoding='UTF-8'?>"
        b"<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:box-c@roamline.invalid'/>")


def rtp(seq: int) -> bytes:
    pkt = media.RtpPacket(seq=seq, timestamp=160 * seq, ssrc=77, payload=bytes([seq % 256]) * 160)
    return media.encode_datagram(0, pkt)[1:]


def der(cred: Credential) -> bytes:
    return ssl.PEM_cert_to_DER_cert(cred.cert_pem.decode("ascii"))


async def until(cond: object, within_s: float = 5.0) -> None:
    for _ in range(int(within_s / 0.02)):
        if callable(cond) and cond():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


@pytest.fixture
def registry_tls(tmp_path: Path) -> tuple[Credential, TlsSetup]:
    cred = make_certificate("registry.test")
    cert, key = cred.files(tmp_path, "registry")
    return cred, TlsSetup(cert, key)


def test_the_emergency_invite_goes_over_tls_to_a_sips_answering_point_checked_by_fingerprint_or_ca(
    registry_tls: tuple[Credential, TlsSetup]
) -> None:
    reg, tls = registry_tls
    ca = make_certificate("psap CA", ca=True)
    psap_cred = make_certificate("psap", issuer=ca)

    async def main() -> None:
        events: list[Event] = []
        heard: list[bytes] = []
        gw = SosGateway(host="127.0.0.1", on_event=lambda c, e: events.append(e),
                        on_media=lambda c, d: heard.append(d), tls=tls)
        peer = TlsSipPeer(psap_cred, trust=reg.cert_pem).serve()  # it wants our certificate too
        await gw.open()
        try:
            assert gw.tls_address is not None
            await gw.dial(call_id="call-tls00001", psap_uri=peer.uri, call_back="+15550400004",
                          box_id="box-c", pidf=PIDF, trust=PeerTrust(fingerprint=fingerprint(psap_cred)))
            await until(lambda: [e.kind for e in events] == ["ringing", "answered"])
            dialog = await asyncio.get_running_loop().run_in_executor(None, peer.wait_confirmed)
            invite = dialog.invite
            assert invite.uri == "urn:service:sos" and invite.need("Via").startswith("SIP/2.0/TLS ")
            assert sip.uri_of(invite.need("Contact")).startswith("sips:box-c@127.0.0.1:")
            assert invite.need("Route") == f"<{peer.uri};lr>"
            cid = sip.uri_of(invite.need("Geolocation")).removeprefix("cid:")
            parts = sip.parse_multipart(invite.body, invite.need("Content-Type"))
            assert [p.content_id for p in parts][1] == cid and parts[1].body == PIDF  # by value
            assert peer.client_certs == [der(reg)]  # mutual TLS: the registry's certificate
            for seq in range(3):
                gw.send_media("call-tls00001", rtp(seq))
            await until(lambda: len(heard) == 3)
            assert heard == [rtp(s) for s in range(3)]  # echoed by the peer, unchanged
            assert gw.legs()["call-tls00001"]["transport"] == "tls"
            peer.hang_up(dialog)
            await until(lambda: events[-1].kind == "ended")
            assert events[-1].reason == "remote-bye" and "call-tls00001" not in gw.legs()
            # pinned by the CA instead (chain and the URI's address checked)
            await gw.dial(call_id="call-tls00002", psap_uri=peer.uri, call_back="", box_id="box-c",
                          pidf=None, trust=PeerTrust(ca=ca.cert_pem.decode()))
            await until(lambda: events[-1].kind == "answered")
            gw.hangup("call-tls00002")
            await until(lambda: events[-1].kind == "ended")
            assert events[-1].reason == "local-bye"
            # the wrong certificate: the dial fails before anything is sent
            other = make_certificate("other CA", ca=True)
            for trust in (PeerTrust(fingerprint=fingerprint(other)), PeerTrust(ca=other.cert_pem.decode()),
                          PeerTrust()):
                with pytest.raises(UsageError):
                    await gw.dial(call_id="call-tls00003", psap_uri=peer.uri, call_back="", box_id="box-c",
                                  pidf=None, trust=trust)
            assert len(peer.invites()) == 2
        finally:
            await gw.close()
            peer.stop()

    asyncio.run(main())


def test_a_sips_answering_point_needs_the_gateways_tls() -> None:
    async def main() -> None:
        gw = SosGateway(host="127.0.0.1", on_event=lambda c, e: None, on_media=lambda c, d: None)
        await gw.open()
        try:
            assert gw.tls_address is None
            with pytest.raises(UsageError, match="no TLS"):
                await gw.dial(call_id="call-tls00009", psap_uri="sips:psap@127.0.0.1:5061", call_back="",
                              box_id="box-c", pidf=None, trust=PeerTrust(fingerprint="AB"))
        finally:
            await gw.close()

    asyncio.run(main())


def test_a_call_back_over_tls_is_answered_or_refused_403_by_the_directorys_certificate(
    registry_tls: tuple[Credential, TlsSetup]
) -> None:
    reg, tls = registry_tls
    ca = make_certificate("county CA", ca=True)
    good = make_certificate("county psap", issuer=ca)
    sibling = make_certificate("another psap of the same CA", issuer=ca)
    stranger = make_certificate("stranger")  # self-signed: no directory CA issued it
    directory = [AnsweringPoint("county", "sips:psap@127.0.0.1:5061", "default",
                                callback_from=("127.0.0.0/8",), tls_ca=ca.cert_pem.decode(),
                                tls_fingerprint=fingerprint(good))]
    tls = TlsSetup(tls.cert_file, tls.key_file, client_cas=ca.cert_pem.decode())

    async def main() -> None:
        loop = asyncio.get_running_loop()
        seen: list[sos_uas.CallbackSource] = []
        ended: list[str] = []
        tasks: set[asyncio.Task[None]] = set()
        gw: SosGateway

        def arrived(sip_id: str, number: str, caller: str, source: sos_uas.CallbackSource) -> None:
            seen.append(source)
            point = psap.callback_source(directory, source.address, source.transport, source.cert_der)
            if point is None:
                gw.callback_refuse(sip_id, 403, "Forbidden")
                return
            gw.callback_ring(sip_id)
            task = loop.create_task(gw.callback_answer(sip_id))
            tasks.add(task)

        gw = SosGateway(host="127.0.0.1", on_event=lambda c, e: None, on_media=lambda c, d: None,
                        on_callback=arrived, on_callback_event=lambda s, e: ended.append(e.kind), tls=tls)
        await gw.open()
        try:
            target = gw.tls_address
            assert target is not None
            peer = TlsSipPeer(good, trust=reg.cert_pem)
            got = await loop.run_in_executor(None, lambda: peer.call(target, "+15550400004"))
            statuses = [m.status for m in got]
            assert statuses[:3] == [100, 180, 200] and statuses[-1] == 200, statuses  # …and our BYE's 200
            answer = got[2]
            assert sip.uri_of(answer.need("Contact")).startswith("sips:callback@127.0.0.1:")
            assert answer.need("Via").startswith("SIP/2.0/TLS ")
            assert seen[-1].transport == "tls" and seen[-1].cert_der == der(good)
            await until(lambda: "ended" in ended)

            peer = TlsSipPeer(sibling, trust=reg.cert_pem)
            got = await loop.run_in_executor(None, lambda: peer.call(target, "+15550400004"))
            assert [m.status for m in got] == [100, 403]  # the right CA, not the pinned certificate
            assert seen[-1].cert_der == der(sibling)

            peer = TlsSipPeer(stranger, trust=reg.cert_pem)
            n = len(seen)
            try:  # the handshake refuses it (under TLS 1.3 the client learns so at its first read)
                got = await loop.run_in_executor(None, lambda: peer.call(target, "+15550400004", timeout=3))
            except (HilUsageError, OSError):
                got = []
            assert got == []  # no response: no INVITE was read
            await asyncio.sleep(0.2)
            assert len(seen) == n
            # and the same INVITE over UDP is not a TLS call-back: its source says udp
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
                headers = [("Via", f"SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKudp1"),
                           ("Max-Forwards", "70"),
                           ("From", "<sip:+15550911000@127.0.0.1>;tag=u1"), ("To", "<sip:+15550400004@x>"),
                           ("Call-ID", "udp-cb-1@psap"), ("CSeq", "1 INVITE"),
                           ("Contact", f"<sip:psap@127.0.0.1:{port}>"), ("Content-Type", "application/sdp")]
                body = sip.sdp_offer("127.0.0.1", 9, session_id=3)
                s.sendto(sip.request("INVITE", "sip:+15550400004@x", headers, body).encode(), gw.sip_address)
                s.setblocking(False)
                replies = [await asyncio.wait_for(loop.sock_recv(s, 65536), 3) for _ in range(2)]
                codes = [sip.parse(r).status for r in replies]
            assert codes == [100, 403] and seen[-1].transport == "udp" and seen[-1].cert_der is None
        finally:
            await gw.close()
            for task in tasks:
                await task

    asyncio.run(main())


def test_the_tls_listener_keeps_a_bounded_number_of_connections_and_failed_handshakes_take_none(
    registry_tls: tuple[Credential, TlsSetup], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from roamline.cloud import sos_gateway

    monkeypatch.setattr(sos_gateway, "MAX_ACCEPTED", 1)
    _, tls = registry_tls
    ca = make_certificate("county CA", ca=True)
    good = make_certificate("county psap", issuer=ca)
    stranger = make_certificate("stranger")
    tls = TlsSetup(tls.cert_file, tls.key_file, client_cas=ca.cert_pem.decode())

    def client(cred: Credential, target: tuple[str, int]) -> ssl.SSLSocket:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        cert, key = cred.files(tmp_path, f"c{id(cred)}")
        ctx.load_cert_chain(str(cert), str(key))
        conn = ctx.wrap_socket(socket.create_connection(target, timeout=3))
        conn.settimeout(3)
        return conn

    def closed_by_peer(conn: ssl.SSLSocket) -> bool:
        try:
            return conn.recv(1) == b""
        except (OSError, ssl.SSLError):
            return True

    async def main() -> None:
        loop = asyncio.get_running_loop()
        gw = SosGateway(host="127.0.0.1", on_event=lambda c, e: None, on_media=lambda c, d: None, tls=tls)
        await gw.open()
        try:
            target = gw.tls_address
            assert target is not None
            bad = await loop.run_in_executor(None, client, stranger, target)
            assert await loop.run_in_executor(None, closed_by_peer, bad)  # its certificate is refused
            bad.close()
            first = await loop.run_in_executor(None, client, good, target)  # the failed one took no place
            await asyncio.sleep(0.2)
            second = await loop.run_in_executor(None, client, good, target)
            assert await loop.run_in_executor(None, closed_by_peer, second)  # over the limit: closed
            first.sendall(b"\r\n\r\n")  # the kept one is still served (keep-alive CRLFs are ignored)
            await asyncio.sleep(0.2)
            first.close()
            second.close()
            await asyncio.sleep(0.2)
            third = await loop.run_in_executor(None, client, good, target)  # a place is free again
            first_byte = loop.run_in_executor(None, closed_by_peer, third)
            await asyncio.sleep(0.5)
            assert not first_byte.done()  # still open: it waits for SIP
            third.close()
            await first_byte
        finally:
            await gw.close()

    asyncio.run(main())


def _two_messages() -> bytes:
    headers = [("Via", "SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bKs1"), ("From", "<sip:a@b>;tag=1"),
               ("To", "<sip:+15550400004@x>"), ("Call-ID", "s-1@psap"), ("CSeq", "1 INVITE"),
               ("Contact", "<sips:psap@127.0.0.1:5061>"), ("Content-Type", "application/sdp")]
    invite = sip.request("INVITE", "sip:+15550400004@x", headers, sip.sdp_offer("127.0.0.1", 9, 1)).encode()
    bye = sip.request("BYE", "sip:callback@x", [*headers[:4], ("CSeq", "2 BYE")]).encode()
    return invite + b"\r\n\r\n" + bye  # with keep-alive CRLFs between them (RFC 5626)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 64), max_size=80))
def test_a_tls_stream_cut_anywhere_gives_each_message_once_unchanged(cuts: list[int]) -> None:
    from roamline.cloud.sos_gateway import _Stream

    data = _two_messages()
    got: list[bytes] = []
    stream = _Stream(lambda m, conn: got.append(m))
    pos = 0
    for n in [*cuts, len(data)]:
        stream.data_received(data[pos:pos + n])
        pos += n
        if pos >= len(data):
            break
    msgs = [sip.parse(m) for m in got]
    assert [m.method for m in msgs] == ["INVITE", "BYE"]
    assert sip.parse_sdp(msgs[0].body).port == 9 and msgs[1].body == b""


def test_a_tls_stream_fed_byte_by_byte_and_a_broken_one_dropped() -> None:
    from roamline.cloud.sos_gateway import _Stream

    got: list[bytes] = []
    stream = _Stream(lambda m, conn: got.append(m))
    for b in _two_messages():
        stream.data_received(bytes([b]))
    assert len(got) == 2
    broken = _Stream(lambda m, conn: got.append(m))
    broken.data_received(b"INVITE sip:x SIP/2.0\r\nContent-Length: nope\r\n\r\n")
    broken.data_received(_two_messages())  # a broken stream is not resynchronised: nothing more from it
    assert len(got) == 2
