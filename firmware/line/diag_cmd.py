"""`roamline box diag modem`: identify a voice modem, check voice support, optionally wait for a call."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

SUMMARY = "identify the voice modem and its profile, check voice, optionally wait for a ring (caller ID)"


def configure(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    parser.add_argument("--device", required=True, type=validate.Device(),
                        help="serial device (e.g. /dev/ttyACM0) or pyserial URL")
    parser.add_argument("--profile", type=modem_profile_names(),
                        help="modem profile name, overriding auto-detection")
    parser.add_argument("--wait-ring", type=validate.seconds(3600.0), metavar="SECONDS",
                        help="wait this long for an incoming call and report its caller ID")
    parser.add_argument("--unformatted", action="store_true",
                        help="ask for unformatted caller ID (+VCID=2, MDMF/SDMF hex) instead of +VCID=1")
    parser.add_argument("--baud", type=validate.Number(300, 4_000_000, integer=True), default=115200,
                        help="serial speed, bits per second (default 115200)")
    parser.add_argument("--json", action="store_true", help="print only the JSON result line")


def modem_profile_names() -> Any:
    """The validator of a ``--profile`` option: a known modem profile name or alias."""
    from roamline.wire import validate

    def names() -> list[str]:
        from roamline.firmware.line.modem_profiles import all_profiles

        return [n for p in all_profiles() for n in (p.name, *p.aliases)]

    return validate.OneOf("modem profile", names)


def run(args: argparse.Namespace) -> int:
    from roamline.firmware.line import events as ev
    from roamline.firmware.line.modem_profiles import by_name
    from roamline.firmware.line.serial_line import SerialLine
    from roamline.firmware.line.session import LineSession

    forced = by_name(args.profile) if args.profile else None
    session = LineSession(forced, unformatted_cid=args.unformatted, command_timeout=3.0)
    result: dict[str, Any] = {"device": args.device, "profile": None, "detected": False, "voice": False,
                              "full_duplex": False, "rings": None, "caller_id": None}
    say = (lambda *_: None) if args.json else print
    with SerialLine(args.device, session, baudrate=args.baud) as line:
        line.kick()
        detected = line.identify()
        identity = {k: v for k, v in session.identity.items() if v}
        result.update(identity=identity, voice=bool(session.voice_supported), detected=detected is not None)
        if session.profile is None:
            session.profile = by_name("generic")
        profile = session.profile
        result.update(profile=profile.name if (detected or forced) else None, profile_used=profile.name,
                      full_duplex=profile.voice.full_duplex, can_bridge=session.can_bridge,
                      eos=profile.voice.eos)
        say(f"modem: {identity.get('ATI3') or identity.get('AT+GMM') or identity.get('ATI0') or '(no text)'}")
        say(f"profile: {profile.name} ({profile.title}){'' if detected or forced else ' - not recognised'}")
        say(f"voice (+FCLASS=8): {'yes' if result['voice'] else 'NO'}; full duplex: "
            f"{'yes' if session.can_bridge else 'no - can take messages but cannot bridge a conversation'}")
        if result["voice"]:
            line.initialise()
            result["initialised"] = True
        if args.wait_ring is not None and result["voice"]:
            say(f"waiting up to {args.wait_ring:g} s for a call ...")
            result.update(_wait_ring(line, args.wait_ring, ev))
            say(f"rings: {result['rings']}; caller ID: {result['caller_id']}")
    print(json.dumps(result, sort_keys=True))
    return 0 if result["voice"] else 1


def _wait_ring(line: Any, seconds: float, ev: Any) -> dict[str, Any]:
    """Count rings; caller ID may come before, between or after rings, or never. Stop when caller ID
    and a ring have both been seen, the caller gives up, four rings pass, or time runs out."""
    end = time.monotonic() + seconds
    rings, cid, ended = 0, None, False
    while time.monotonic() < end and not ended:
        for e in line.pump(0.05):
            if isinstance(e, ev.Ring):
                rings = e.count
            elif isinstance(e, ev.CallerIdReceived):
                cid = e
            elif isinstance(e, ev.CallEnded):
                ended = True
        if rings and (cid is not None or rings >= 4):
            break
    status = None if cid is None else {"number": cid.caller_id.number_status,
                                       "name": cid.caller_id.name_status}
    shown = cid.as_json() if cid is not None else None
    return {"rings": rings, "caller_id": shown, "caller_id_status": status}
