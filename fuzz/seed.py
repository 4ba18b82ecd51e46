"""Writes the seed corpus (fuzz/corpus/NAME/seed-*): valid inputs built with the project's own encoders
and simulators, so the fuzzers start from inputs that reach deep into each parser.
``python fuzz/seed.py`` rewrites the seeds; inputs found by fuzzing and merged in are kept."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from roamline.firmware.callerid import codec  # noqa: E402
from roamline.firmware.card import tlv  # noqa: E402
from roamline.firmware.card.piv import PivClient  # noqa: E402
from roamline.firmware.line.dle import end_of_stream, shield  # noqa: E402
from roamline.hil.card.issue import TestCa  # noqa: E402
from roamline.hil.card.piv import VirtualCard  # noqa: E402
from roamline.wire import messages as m  # noqa: E402
from roamline.wire.errors import ErrorCode  # noqa: E402

CORPUS = ROOT / "fuzz" / "corpus"


def encode_stream(data: bytes, events: str = "", eos: str = "single") -> bytes:
    """A modem→host voice stream: shielded data, DLE events, end of stream."""
    return shield(data) + b"".join(bytes((0x10, ord(c))) for c in events) + end_of_stream(
        "triple" if eos == "triple" else "single")


def lp(*answers: bytes, width: int = 1) -> bytes:
    """Length-prefixed answers, as apdu_response (1 byte) and piv_card (2 bytes) read them."""
    return b"".join(len(a).to_bytes(width, "big") + a for a in answers)


def piv_session() -> bytes:
    card = VirtualCard(TestCa().make_cardfile())
    answers: list[bytes] = []

    def transmit(apdu: bytes) -> bytes:
        answer = card.process(apdu)
        answers.append(answer)
        return answer

    piv = PivClient(transmit)
    piv.select()
    piv.read_chuid()
    piv.read_certificate(0x9E)
    piv.sign(0x9E, bytes(32))
    piv.pin_status()
    return lp(*answers, width=2)


def seeds() -> dict[str, list[bytes]]:
    when = codec.Stamp(12, 1, 10, 30)
    mdmf = codec.encode(codec.CallerId("5551230001", "ANN EXAMPLE", when), codec.Format.MDMF)
    sdmf = codec.encode(codec.CallerId("5551230001", when=when), codec.Format.SDMF)
    withheld = codec.CallerId(when=when, number_absent=codec.Absence.PRIVATE,
                              name_absent=codec.Absence.UNAVAILABLE)
    cid_text = b"DATE=1201\r\nTIME=1030\r\nNMBR=5551230001\r\nNAME=ANN EXAMPLE\r\n"
    frames = [m.encode_message(m.NonceRequest(purpose=m.NoncePurpose.HELLO), id="c1"),
              m.encode_message(m.Ping(), id="c2"),
              m.encode_message(m.Revoked(kind=m.RevokedKind.CARD, id="ab" * 16)),
              m.encode_message(m.Error(code=ErrorCode.BAD_BODY, message="no"), re="c1")]
    types = sorted(m.MESSAGE_TYPES)
    typed = [bytes((1, types.index("revoked"))) + json.dumps({"kind": "box", "id": "b1"}).encode(),
             bytes((1, types.index("refresh"))) + json.dumps({"card_ids": ["ab" * 16]}).encode(),
             bytes((1, types.index("nonce"))) + json.dumps({"purpose": "register"}).encode(),
             bytes((1, types.index("error"))) + json.dumps({"code": "revoked", "message": "x"}).encode()]
    profiles = sorted((ROOT / "board" / "profiles").glob("*.toml"))
    box = (b'name = "kitchen"\nboard = "sim"\ndata_dir = "data"\n[registry]\nhost = "127.0.0.1"\n'
           b'port = 4433\nca = "ca.pem"\n[identity]\ncert = "box.pem"\nkey = "box.key"\n'
           b'[card]\nbackend = "pcsc"\nreaders = ["Test VPCD 00 00"]\n[line]\nbackend = "serial"\n'
           b'device = "/dev/ttyACM0"\nprofile = "usr5637"\n[link]\nkeepalive_s = 15.0\n')
    chuid = tlv.encode(0x53, tlv.encode(0x30, bytes(25)) + tlv.encode(0x34, bytes(16)) +
                       tlv.encode(0x35, b"20301231") + tlv.encode(0xFE, b""))
    return {
        "at_responses": [b"\x03OK\r\n", b"\x05\r\nRING\r\n\r\n" + cid_text + b"\r\nRING\r\n",
                         b"\x02OK\r\nOK\r\nOK\r\nCONNECT\r\n" + encode_stream(b"\x7f\x10\x01", "5b")
                         + b"\r\nOK\r\n",
                         b"\x07ERROR\r\nNO CARRIER\r\n" + mdmf.hex().upper().encode() + b"\r\n"],
        "callerid_formatted": [cid_text, b"\x01\n" + cid_text + b"\x02\nNMBR=P\nNAME=O\nMESG=" +
                               mdmf.hex().encode() + b"\n"],
        "callerid_mdmf": [mdmf, sdmf, b"\x00" + mdmf, codec.encode(withheld, codec.Format.MDMF)],
        "dle_stream": [b"\x03" + encode_stream(b"abc\x10def", "5#bdq"),
                       b"\x85" + encode_stream(b"\x10\x10x", "s", eos="triple") + b"OK\r\n"],
        "apdu_response": [b"\x00" + lp(b"\x90\x00"), b"\x00" + lp(b"\x61\x04", b"abcd\x90\x00"),
                          b"\x00" + lp(b"\x6c\x08", b"12345678\x90\x00"),
                          b"\x64" + lp(b"\x90\x00", b"\x90\x00", b"\x6a\x82")],
        "apdu_tlv": [b"\x02" + chuid, b"\x05" + tlv.encode(0x7C, tlv.encode(0x82, b"\x30\x06" + bytes(6)))],
        "piv_card": [piv_session()],
        "link_frames": [b"\x02" + b"".join(frames), b"\x06" + frames[0][:3]],
        "link_messages": [b"\x00" + f[4:] for f in frames] + typed,
        "box_config": [box],
        "board_profile": [p.read_bytes() for p in profiles],
        "holder_profile": holder_profiles(),
        "line_grant": grants(),
    }


def later_seeds() -> dict[str, list[bytes]]:
    """Seeds of the parsers that landed after the first harnesses (location, updates, PIV admin, media,
    emergency reports, grants behind the signature)."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from roamline.wire import grant, identity, media, update

    logs = ROOT / "tests" / "firmware" / "location" / "data"
    nmea = [p.read_bytes()[:256] for p in sorted(logs.glob("*.nmea"))]
    gpsd_lines = [{"class": "VERSION", "release": "3.22", "proto_major": 3, "proto_minor": 14},
                  {"class": "DEVICES", "devices": [{"class": "DEVICE", "path": "/dev/pts/3"}]},
                  {"class": "SKY", "satellites": [{"PRN": 5, "used": True}, {"PRN": 13, "used": False}]},
                  {"class": "TPV", "device": "/dev/pts/3", "mode": 3, "lat": 39.78, "lon": -89.65,
                   "altHAE": 148.5, "eph": 6.2, "time": "2026-12-01T12:00:00.000Z"}]
    gpsd = b"".join(json.dumps(x).encode() + b"\n" for x in gpsd_lines)
    manifest = update.Manifest(version="0.2.0", payload_sha256="00" * 32, payload_size=10,
                               health=("roamline", "box", "health"))
    key = identity.generate_key()
    header = update.encode_header(manifest, update.sign(key, manifest))
    point = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    generated = tlv.encode(0x7F49, tlv.encode(0x86, point))
    rtp = media.encode_datagram(7, media.RtpPacket(seq=1, timestamp=160, ssrc=0x1234,
                                                   payload=bytes(media.PCMU_FRAME_BYTES)))
    report = {"call_id": "c1", "box_id": "box-1", "number": "911", "route": "own-line",
              "dialled_at": 1.0, "card_id": "ab" * 16}
    body = grant.Grant("c1", "+15550100001", "+15550400004", "acct-ann", 990.0, 1100.0, 600.0).payload()
    unlimited = grant.Grant("c1", "+15550100001", "+15550400004", "acct-ann", 990.0, 1100.0, None)
    return {
        "nmea": [b"\x03" + n for n in nmea],
        "gpsd_json": [b"\x05" + gpsd],
        "update_header": [b"\x02" + header],
        "piv_generate": [generated],
        "media_datagram": [rtp],
        "emergency_report": [json.dumps(report).encode()],
        "grant_token": [b"\x01" + body, b"\x00" + grant.sign(unlimited, key).encode()],
        "voicemail_chunk": voicemail_chunks(),
    }


def file_seeds() -> dict[str, list[bytes]]:
    """Seeds of the files the box and the operator hand over: the service state, the PSAP directory."""
    from roamline.firmware.service_state import Firmware, ServiceState, encode

    state = ServiceState(pid=4242, boot_id="6a1f0c1e-boot", box_id="box-a", heartbeat_s=5.0, phase="running",
                         firmware=Firmware(package="0.1", slot="b", version="2.0"))
    state = (state.with_link(True, "welcomed", 100.0).with_peripheral("line", True, "modem answering", 100.0)
             .with_peripheral("gps", False, "lost: refused", 101.0, required=False).beat(50.0, 1000.0))
    psap = (b"name,uri,lat,lon,radius_m,country,A1,A3\n"
            b"shelbyville,sip:psap@10.0.0.5:5060,39.4064,-88.7901,15000,,,\n"
            b"illinois,sip:psap@10.0.0.6:5060,,,,US,IL,\n"
            b"springfield,sip:psap@psap.example;transport=udp,,,,us,il,\"Springfield, City\"\r\n"
            b"fallback,sip:psap@10.0.0.7:5060,,,,,,\n")
    return {"service_state": [encode(state), encode(state.with_phase("stopped"))],
            "psap_csv": [psap, b"\xef\xbb\xbfNAME, URI,lat,lon,radius_m,Country,a1,a3\r\n"
                         b"x,sip:[::1]:5061,,,,,,\r\n"]}


def voicemail_chunks() -> list[bytes]:
    from roamline.wire import voicemail

    meta = voicemail.Meta(call_id="box-a-0000000000000001", number="+15550100001", caller="+15550300003",
                          caller_name="BOB JONES", started_at=1.8e9, ended_at=1.8e9 + 2, duration_s=2.0,
                          ended="hangup")
    chunks = voicemail.split("vm-00000000000000a1", bytes(range(256)) * 2, meta)
    empty = voicemail.split("vm-00000000000000a2", b"", meta)
    return [json.dumps(c.to_json()).encode() for c in (*chunks, *empty)] + [
        json.dumps({**chunks[0].to_json(), "last": False, "meta": None}).encode()]
def holder_profiles() -> list[bytes]:
    from roamline.wire import profile

    full = profile.parse({
        "timezone": "America/Chicago", "rings": [{"number": "+15550100001", "cadence": "us-dr2"}],
        "schedules": [{"name": "evenings", "windows": [{"days": [0, 1, 2, 3, 4], "start": "19:00",
                                                         "end": "07:00"}],
                       "periods": [{"start": "2026-12-24T18:00", "end": "2027-01-02T08:00"}]}],
        "filters": [{"name": "spam", "action": "block", "names": ["*SALES*"], "prefixes": ["+1900"],
                     "refusal": "silent"},
                    {"name": "late", "action": "voicemail", "schedule": "evenings", "withheld": True},
                    {"name": "fwd", "action": "forward", "forward_to": "+15550200002"}],
        "speed_dials": [{"key": "2", "number": "+15550400004", "label": "Pizza"}],
        "voicemail": {"timeout_s": 20, "greeting": "g1", "pin_hash": profile.hash_pin("1234", salt=bytes(16),
                                                                                      iterations=1000)},
        "waiting": 2})
    return [full.dumps().encode(), b"{}", profile.EMPTY.dumps().encode()]


def grants() -> list[bytes]:
    from roamline.wire import grant, identity

    key = identity.CertificateAuthority.create(now=1_800_000_000.0).key
    tok = grant.issue(key, call_id="c-00000000000000a1", line="+15551230000", number="+15559990000",
                      account="a", now=1_800_000_000.0, max_call_s=60.0)
    return [tok.encode(), tok[: len(tok) // 2].encode(), b"", b"a.b"]


def main() -> None:
    """``seed.py``: every harness's seeds; ``--later``: only the later harnesses'; ``--files``: only the
    file harnesses' (service state, PSAP directory)."""
    chosen = {"--later": later_seeds, "--files": file_seeds}.get(sys.argv[1] if sys.argv[1:] else "")
    everything = {**seeds(), **later_seeds(), **file_seeds()}
    for name, items in (chosen() if chosen else everything).items():
        d = CORPUS / name
        d.mkdir(parents=True, exist_ok=True)
        for old in d.glob("seed-*"):
            old.unlink()
        for data in items:
            (d / f"seed-{hashlib.sha1(data).hexdigest()[:12]}").write_bytes(data)
        print(f"{name}: {len(items)} seeds")


if __name__ == "__main__":
    main()
