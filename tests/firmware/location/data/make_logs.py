"""Writes the NMEA test logs in this folder (run it to regenerate them; the logs are committed).

Each log imitates a real receiver's output at 1 Hz: a u-blox style multi-GNSS receiver (GN/GP/GL/GA/BD
talkers, PUBX and TXT sentences), a cold start (void status, quality 0, then a fix), a dead-reckoning
receiver, and a noisy serial capture (cut sentences, lost line ends, wrong checksums, binary noise).
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent


def cs(body: str) -> str:
    c = 0
    for ch in body:
        c ^= ord(ch)
    return f"${body}*{c:02X}\r\n"


def lat_lon(lat: float, lon: float) -> str:
    la, lo = abs(lat), abs(lon)
    return (f"{int(la):02d}{(la - int(la)) * 60:08.5f},{'N' if lat >= 0 else 'S'},"
            f"{int(lo):03d}{(lo - int(lo)) * 60:08.5f},{'E' if lon >= 0 else 'W'}")


def epoch(t: int, lat: float, lon: float, *, talker: str = "GN", qual: int = 1, status: str = "A",
          mode: str = "A", fix3d: int = 3, sats: int = 9, hdop: float = 0.9,
          gst: float | None = 2.1) -> list[str]:
    hhmmss = f"{12 + t // 3600:02d}{(t // 60) % 60:02d}{t % 60:02d}.00"
    pos = lat_lon(lat, lon) if qual or status == "A" else ",,,"
    out = [cs(f"{talker}RMC,{hhmmss},{status},{pos},0.012,,011226,,,{mode}"),
           cs(f"{talker}VTG,,T,,M,0.012,N,0.022,K,{mode}"),
           cs(f"{talker}GGA,{hhmmss},{pos},{qual},{sats:02d},{hdop:.2f},182.4,M,-33.9,M,,"),
           cs(f"{talker}GSA,A,{fix3d},05,13,15,18,20,,,,,,,,1.62,{hdop:.2f},1.33"),
           cs(f"{talker}GSA,A,{fix3d},68,69,79,,,,,,,,,,1.62,{hdop:.2f},1.33"),
           cs("GPGSV,2,1,07,05,39,276,34,13,52,054,41,15,68,185,44,18,21,112,30"),
           cs("GPGSV,2,2,07,20,17,043,28,24,09,319,,29,05,212,"),
           cs("GLGSV,1,1,03,68,44,061,36,69,62,325,40,79,29,138,33"),
           cs("GAGSV,1,1,02,02,33,230,31,07,51,102,38"),
           cs("BDGSV,1,1,02,11,40,180,35,12,22,300,29"),
           cs(f"{talker}GLL,{pos},{hhmmss},{status},{mode}")]
    if gst is not None:
        out.append(cs(f"{talker}GST,{hhmmss},12,{gst:.1f},{gst:.1f},0.0,{gst * 0.8:.1f},{gst * 0.6:.1f},4.0"))
    out.append(cs(f"PUBX,00,{hhmmss},{pos},182.4,G3,{gst or 9:.1f},3.1,0.022,0.00,0.000,,1.62,{hdop:.2f},"
                  f"1.33,{sats},0,0"))
    return out


def write(name: str, lines: list[str] | bytes) -> None:
    data = lines if isinstance(lines, bytes) else "".join(lines).encode("ascii")
    (HERE / name).write_bytes(data)


LAT, LON = 39.78172, -89.65015  # Springfield, IL

if __name__ == "__main__":
    write("ublox-multignss.nmea",
          [cs("GPTXT,01,01,02,u-blox ag - www.u-blox.com"), cs("GPTXT,01,01,02,HW UBX-M8030 00080000")]
          + [s for t in range(8) for s in epoch(t, LAT + t * 1e-6, LON - t * 1e-6)])
    write("cold-start.nmea",
          [s for t in range(4) for s in epoch(t, LAT, LON, qual=0, status="V", mode="N", fix3d=1, sats=2,
                                              hdop=99.99, gst=None)]
          + [s for t in range(4, 7) for s in epoch(t, LAT, LON, talker="GP", fix3d=2, sats=4, hdop=2.4,
                                                   gst=None)])
    write("dead-reckoning.nmea",
          [s for t in range(3) for s in epoch(t, LAT, LON)]
          + [s for t in range(3, 6) for s in epoch(t, LAT + 0.001, LON, qual=6, mode="E", sats=0)])
    good = "".join(s for t in range(5) for s in epoch(t, 51.50135, -0.14189, talker="GN")).encode()
    lines = good.split(b"\r\n")
    noisy = bytearray(b"\x00\xffGA,*3C\r\n")  # tail of a sentence we joined halfway, then noise
    for i, line in enumerate(lines):
        if i % 7 == 3:
            noisy += line[: len(line) // 2]  # cut short: its line end was lost
        elif i % 11 == 5:
            noisy += line[:-2] + (b"00" if not line.endswith(b"00") else b"11") + b"\r\n"  # wrong checksum
        elif i % 13 == 8:
            noisy += b"\xb5\x62\x01\x07\x5c\x00" + line + b"\r\n"  # a UBX binary frame before the sentence
        else:
            noisy += line + b"\r\n"
    noisy += b"$GNGGA,1200" + b"9" * 300 + b"\r\n"  # runaway line (bounded buffer)
    write("noisy-serial.nmea", bytes(noisy))
