"""``make fuzz``: every harness under atheris, or one: ``python fuzz/run.py [NAME...] [-runs=N] [...]``;
``python fuzz/run.py --minimize [NAME...]`` merges what a run found into fuzz/corpus (coverage-adding only).

Each harness runs as its own process (``python fuzz/run.py --one NAME FLAGS``) with the repository's
corpus (fuzz/corpus/NAME, read only) plus a scratch corpus under ``$FUZZ_WORK`` (default
/tmp/roamline-fuzz), where new inputs and crash artifacts go. Prints one JSON line per harness
(inputs run, seconds, crashes, hangs) and a summary; exits non-zero if any harness crashed or hung.
``FUZZ_JOBS=N`` runs N harnesses at once.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HARNESSES = ("apdu_response", "callerid_mdmf", "dle_stream", "apdu_tlv", "link_frames", "callerid_formatted",
             "piv_card", "link_messages", "box_config", "board_profile", "at_responses", "holder_profile",
             "line_grant",
             # parsers that landed later (location, updates, PIV admin, media, reports, grants behind the
             # signature)
             "nmea", "gpsd_json", "update_header", "piv_generate", "media_datagram", "emergency_report",
             "grant_token", "voicemail_chunk", "sip_message",
             # files the box and the operator hand over: the service state, the PSAP directory
             "service_state", "psap_csv")
# Longest input per harness: stream parsers are fed in small pieces, so long inputs cost a lot per run and
# add little beyond a few hundred bytes; configuration files and a PIV session need more.
MAX_LEN = {"box_config": 1024, "board_profile": 1024, "link_messages": 1024, "piv_card": 2048,
           "holder_profile": 4096, "line_grant": 2048, "gpsd_json": 2048, "update_header": 2048,
           "emergency_report": 1024, "grant_token": 1024, "voicemail_chunk": 1024, "service_state": 2048,
           "psap_csv": 2048}
DEFAULT_MAX_LEN = 256


def one(name: str, flags: list[str]) -> None:
    import atheris

    sys.path.insert(0, str(ROOT))
    from fuzz._harness import check

    with atheris.instrument_imports(include=["roamline", "fuzz"]):
        module = importlib.import_module(f"fuzz.{name}")
    # libFuzzer re-executes argv[0] for -merge/-fork: point it at this harness's wrapper (see wrapper()).
    atheris.Setup([os.environ.get("FUZZ_SELF", sys.argv[0]), *flags], lambda data: check(module, data))
    atheris.Fuzz()


def wrapper(name: str, work: Path) -> Path:
    """An executable that runs one harness (libFuzzer re-executes itself for -merge=1 and -fork)."""
    path = work / "bin" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    exe = f'exec "{sys.executable}" "{Path(__file__)}" --one {name} "$@"'
    path.write_text(f'#!/bin/sh\nFUZZ_SELF="$0" {exe}\n')
    path.chmod(0o755)
    return path


def minimize(name: str, work: Path) -> int:
    """Merge what fuzzing found into fuzz/corpus/NAME: only inputs that add coverage. Files added."""
    corpus = ROOT / "fuzz" / "corpus" / name
    before = len(list(corpus.iterdir()))
    max_len = MAX_LEN.get(name, DEFAULT_MAX_LEN)
    argv = [str(wrapper(name, work)), "-merge=1", f"-max_len={max_len}", str(corpus), str(work / name)]
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, check=True)
    return len(list(corpus.iterdir())) - before


def run(name: str, flags: list[str], work: Path) -> dict[str, object]:
    scratch, artifacts = work / name, work / "artifacts" / name
    scratch.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    corpus = ROOT / "fuzz" / "corpus" / name
    max_len = MAX_LEN.get(name, DEFAULT_MAX_LEN)
    args = [sys.executable, str(Path(__file__)), "--one", name, f"-max_len={max_len}",
            "-timeout=10", "-rss_limit_mb=2048", f"-artifact_prefix={artifacts}/", "-print_final_stats=1",
            *flags, str(scratch), str(corpus)]
    started = time.monotonic()
    log_path = work / f"{name}.log"
    with open(log_path, "w") as out:  # libFuzzer's progress lines land here as it runs (tail -f)
        proc = subprocess.run(args, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    log = log_path.read_text(errors="replace")
    done = re.findall(r"Done (\d+) runs", log)
    execs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", log)
    hangs = len(re.findall(r"ERROR: libFuzzer: timeout", log))
    crashes = 0 if proc.returncode == 0 else max(1 - hangs, 0)
    return {"harness": name, "inputs": int(execs[-1] if execs else done[-1] if done else 0),
            "seconds": round(time.monotonic() - started, 1), "crashes": crashes, "hangs": hangs,
            "exit": proc.returncode, "artifacts": sorted(p.name for p in artifacts.iterdir()),
            "log": str(work / f"{name}.log")}


def main(argv: list[str]) -> int:
    if argv[:1] == ["--one"]:
        one(argv[1], argv[2:])
        return 0
    if argv[:1] == ["--minimize"]:  # after a run: keep the new coverage in the repository's corpus
        work = Path(os.environ.get("FUZZ_WORK", "/tmp/roamline-fuzz"))
        for name in argv[1:] or HARNESSES:
            print(json.dumps({"harness": name, "corpus_files_added": minimize(name, work)}), flush=True)
        return 0
    names = [a for a in argv if not a.startswith("-")] or list(HARNESSES)
    flags = [a for a in argv if a.startswith("-")] or ["-runs=1000000"]
    unknown = sorted(set(names) - set(HARNESSES))
    if unknown:
        print(f"fuzz: no harness {unknown[0]!r} (have {', '.join(HARNESSES)})", file=sys.stderr)
        return 2
    work = Path(os.environ.get("FUZZ_WORK", "/tmp/roamline-fuzz"))
    jobs = max(1, int(os.environ.get("FUZZ_JOBS", "1")))
    results = []

    def one_run(name: str) -> dict[str, object]:
        result = run(name, flags, work)
        print(json.dumps(result), flush=True)
        return result

    with ThreadPoolExecutor(jobs) as pool:  # each harness is its own process; FUZZ_JOBS run at once
        results = list(pool.map(one_run, names))
    bad = [r["harness"] for r in results if r["crashes"] or r["hangs"] or r["exit"]]
    print(json.dumps({"harnesses": len(results), "inputs": sum(int(str(r["inputs"])) for r in results),
                      "failed": bad}))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
