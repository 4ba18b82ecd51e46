"""cloud.sos_gateway on real UDP sockets, with a hand-made answering point on loopback: the INVITE reaches
it, garbage and strangers' datagrams change nothing, RTP is passed unchanged both ways and only from the
address the answer named, and timers run on the event loop (an answering point that never answers)."""

from __future__ import annotations

import asyncio
import socket

from roamline.cloud.sos_gateway import SosGateway
from roamline.cloud.sos_uac import Event
from roamline.wire import media, sip


def rtp(seq: int) -> bytes:
    pkt = media.RtpPacket(seq=seq, timestamp=160 * seq, ssrc=77, payload=bytes([seq % 256]) * 160)
    return media.encode_datagram(0, pkt)[1:]  # without the flow id: plain RTP


def answer(invite: sip.SipMessage, rtp_port: int) -> bytes:
    headers = [("Via", invite.need("Via")), ("From", invite.need("From")),
               ("To", invite.need("To") + ";tag=p"),
               ("Call-ID", invite.need("Call-ID")), ("CSeq", invite.need("CSeq")),
               ("Contact", "<sip:psap@127.0.0.1>"), ("Content-Type", "application/sdp")]
    body = f"v=0\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {rtp_port} RTP/AVP 0\r\n".encode()
    return sip.response(200, "OK", headers, body).encode()


def test_invite_answer_media_both_ways_and_strangers_ignored() -> None:
    async def main() -> None:
        psap = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        psap.bind(("127.0.0.1", 0))
        psap.setblocking(False)
        media_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        media_sock.bind(("127.0.0.1", 0))
        media_sock.setblocking(False)
        loop = asyncio.get_running_loop()
        events: list[Event] = []
        heard: list[bytes] = []
        gw = SosGateway(host="127.0.0.1", on_event=lambda c, e: events.append(e),
                        on_media=lambda c, d: heard.append(d))
        await gw.open()
        try:
            port = psap.getsockname()[1]
            await gw.dial(call_id="call-gw000001", psap_uri=f"sip:psap@127.0.0.1:{port}",
                          call_back="+15550400004", box_id="box-c", pidf=None)
            data, gw_addr = await asyncio.wait_for(loop.sock_recvfrom(psap, 65536), 5)
            invite = sip.parse(data)
            assert invite.method == "INVITE" and invite.uri == "urn:service:sos"
            stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            stranger.sendto(b"\x00\xffnot sip at all", gw_addr)  # garbage at the SIP port
            stranger.sendto(answer(invite, 9).replace(b"call-gw000001@", b"call-other01@"), gw_addr)
            await asyncio.sleep(0.1)
            assert events == []
            psap.sendto(answer(invite, media_sock.getsockname()[1]), gw_addr)
            ack, _ = await asyncio.wait_for(loop.sock_recvfrom(psap, 65536), 5)
            assert sip.parse(ack).method == "ACK"
            for _ in range(50):
                if events:
                    break
                await asyncio.sleep(0.02)
            assert [e.kind for e in events] == ["answered"]
            sdp = sip.parse_sdp(invite.body)  # no location: the body is our SDP alone
            for seq in range(5):
                gw.send_media("call-gw000001", rtp(seq))
            got = [await asyncio.wait_for(loop.sock_recv(media_sock, 2048), 5) for _ in range(5)]
            assert got == [rtp(s) for s in range(5)]  # unchanged
            for seq in range(3):
                media_sock.sendto(rtp(100 + seq), (sdp.address, sdp.port))
            media_sock.sendto(b"\x80\x08bad", (sdp.address, sdp.port))  # not PCMU / too short: dropped
            await asyncio.sleep(0.2)
            assert heard == [rtp(100 + s) for s in range(3)]
            assert gw.legs()["call-gw000001"]["media_dropped"] == 1
            gw.hangup("call-gw000001")
            bye, _ = await asyncio.wait_for(loop.sock_recvfrom(psap, 65536), 5)
            assert sip.parse(bye).method == "BYE"
            stranger.close()
        finally:
            await gw.close()
            psap.close()
            media_sock.close()

    asyncio.run(main())


def test_an_answering_point_that_never_answers_fails_the_call_by_its_timers() -> None:
    async def main() -> None:
        psap = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        psap.bind(("127.0.0.1", 0))
        psap.setblocking(False)
        loop = asyncio.get_running_loop()
        events: list[Event] = []
        gw = SosGateway(host="127.0.0.1", on_event=lambda c, e: events.append(e), on_media=lambda c, d: None)
        await gw.open()
        try:
            port = psap.getsockname()[1]
            await gw.dial(call_id="call-gw000002", psap_uri=f"sip:psap@127.0.0.1:{port}", call_back="",
                          box_id="box-c", pidf=None)
            first, _ = await asyncio.wait_for(loop.sock_recvfrom(psap, 65536), 5)
            again, _ = await asyncio.wait_for(loop.sock_recvfrom(psap, 65536), 5)  # timer A: at T1
            assert again == first
            gw.hangup("call-gw000002")  # no provisional yet: the CANCEL waits; timer B ends it
            assert gw.legs()["call-gw000002"]["state"] == "cancelling"
        finally:
            await gw.close()
            psap.close()

    asyncio.run(main())
