#!/usr/bin/env bash
# The package as users get it (run by `make test`): build the sdist from the checkout's files, the wheel
# from that sdist (what pip does with an sdist), install the wheel into a fresh venv outside the checkout
# and run the command face and one command from every room there, from a directory outside the checkout.
#
# The fresh venv gets the third-party packages by a .pth line to a folder of links into .venv's
# site-packages (roamline's own editable install left out), so nothing is downloaded or compiled; every
# file of roamline it imports is the wheel's, which step 3 checks against the checkout file by file.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PY=$REPO/.venv/bin/python
[ -x "$PY" ] || { echo "wheel-smoke: no .venv (run make deps)" >&2; exit 1; }
START=$SECONDS
WORK=$(mktemp -d "${TMPDIR:-/tmp}/roamline-wheel-XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "wheel-smoke: FAILED: $*" >&2; exit 1; }
say() { echo "wheel-smoke: $*"; }

# 1. The source as git has it (tracked plus untracked-not-ignored files; symbolic links kept as links).
mkdir "$WORK/src"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
done | tar -C "$REPO" --null -T - -cf - | tar -C "$WORK/src" -xf -
(cd "$WORK/src" && find wire board firmware cloud provisioning hil cli errors -type f ! -name '*.pyc' | sort) > "$WORK/manifest"

# 2. sdist, then the wheel built from the sdist; install the wheel into a fresh venv.
"$PY" -m build --no-isolation --outdir "$WORK/dist" "$WORK/src" > "$WORK/build.log" 2>&1 \
  || { tail -30 "$WORK/build.log" >&2; fail "python -m build"; }
WHEEL=$(ls "$WORK"/dist/roamline-*.whl)
SDIST=$(ls "$WORK"/dist/roamline-*.tar.gz)
say "built $(basename "$SDIST") and $(basename "$WHEEL")"
"$PY" -m venv --without-pip "$WORK/venv"
VPY=$WORK/venv/bin/python
SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
VSITE=$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
mkdir "$WORK/deps"
for f in "$SITE"/*; do
  case "$(basename "$f")" in
    roamline|roamline-*|__editable__*|*.pth|__pycache__) ;;
    *) ln -s "$f" "$WORK/deps/" ;;
  esac
done
echo "$WORK/deps" > "$VSITE/zz-roamline-smoke-deps.pth"
"$PY" -m pip --python "$VPY" install -q --disable-pip-version-check --no-deps --no-index "$WHEEL" \
  || fail "pip install of the wheel"

# From here on: only the fresh venv on PATH, run from outside the checkout.
RUN=$WORK/run
mkdir "$RUN"
cd "$RUN"
export PATH="$WORK/venv/bin:/usr/bin:/bin" HOME="$RUN"
unset PYTHONPATH VIRTUAL_ENV PCSCLITE_CSOCK_NAME || true
RL=$WORK/venv/bin/roamline
[ -x "$RL" ] || fail "the wheel installed no roamline command"

# 3. Every file of the rooms in the checkout is in the installed package, byte for byte, and roamline
#    (and each room) is imported from the fresh venv; no room is importable under a bare name.
"$VPY" - "$WORK/src" "$WORK/manifest" "$VSITE" <<'EOF' || fail "installed files"
import importlib, importlib.util, sys
from pathlib import Path
src, manifest, site = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
files = manifest.read_text().split()
missing = [f for f in files if not (site / "roamline" / f).is_file()]
differ = [f for f in files if f not in missing and (site / "roamline" / f).read_bytes() != (src / f).read_bytes()]
assert not missing and not differ, f"missing {missing[:5]}, different {differ[:5]}"
shipped = {str(p.relative_to(site / "roamline")) for p in (site / "roamline").rglob("*")
           if p.is_file() and "__pycache__" not in p.parts}
extra = sorted(shipped - set(files))
assert not extra, f"not in the checkout: {extra[:5]}"
import roamline
assert [str(p) for p in roamline.__path__] == [str(site / "roamline")], roamline.__path__
for room in ("wire", "board", "firmware", "cloud", "provisioning", "hil", "cli", "errors"):
    mod = importlib.import_module(f"roamline.{room}")
    assert Path(mod.__file__).is_relative_to(site), mod.__file__
    assert importlib.util.find_spec(room) is None, f"bare {room} importable"
# The data, through the product's own loaders.
from roamline.board.profile import available_profiles, load_profile
from roamline.firmware.audio.tones import load_plan
from roamline.firmware.line.modem_profiles import all_profiles
from roamline.hil.rig import load_rig
boards = available_profiles()
assert "sim" in boards and len(boards) == len([f for f in files if f.startswith("board/profiles/")]), boards
for name in boards:
    load_profile(name)
for country in ("us", "uk", "de"):
    load_plan(country)
assert {p.name for p in all_profiles()} >= {"cx93001", "usr5637", "mt9234mu", "generic"}
load_rig("demo")
print(f"wheel-smoke: {len(files)} files of the rooms installed; {len(boards)} board profiles loaded")
EOF

# 4. The command face and one command from every room.
help=$("$RL" --help) || fail "roamline --help"
for room in box cloud provision hil demo bench; do
  grep -qw "$room" <<<"$help" || fail "roamline --help does not list $room"
done
"$RL" demo --help > /dev/null || fail "roamline demo --help"

wait_line() {  # FILE REGEX SECONDS: the first line of FILE matching REGEX, waiting up to SECONDS
  local deadline=$((SECONDS + $3))
  while ((SECONDS < deadline)); do
    if grep -m1 -E "$2" "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  cat "$1" >&2 || true
  return 1
}

# cloud: a CA, a token, the registry's link server on a free loopback port.
"$RL" cloud ca init --data "$RUN/cloud" > /dev/null || fail "roamline cloud ca init"
TOKEN=$("$RL" cloud token issue --data "$RUN/cloud" --kind box) || fail "roamline cloud token issue"
"$RL" cloud serve --data "$RUN/cloud" --host 127.0.0.1 --port 0 > "$RUN/serve.out" 2>&1 &
PIDS+=($!)
PORT=$(wait_line "$RUN/serve.out" '"port": [0-9]+' 20 | sed -E 's/.*"port": ([0-9]+).*/\1/') \
  || fail "roamline cloud serve did not report its port"
[ "$("$RL" cloud where --data "$RUN/cloud" --json +15550100001 | tail -1)" = "[]" ] \
  || fail "roamline cloud where"

# provision: enroll a box against that registry (board profile "sim").
"$RL" provision box enroll --registry "127.0.0.1:$PORT" --ca "$RUN/cloud/ca.pem" --token "$TOKEN" \
  --out "$RUN/box" --box-name smoke --board sim > "$RUN/enroll.out" || fail "roamline provision box enroll"
grep -q '"box_id"' "$RUN/enroll.out" && [ -f "$RUN/box/box.toml" ] || fail "enroll wrote no box.toml"

# hil: the exchange simulator with one CX93001 modem on a pty (its modem profile is package data).
"$RL" hil exchange run --lines 5551000:cx93001 --device-dir "$RUN/ex" --for 60 > "$RUN/ex.out" 2>&1 &
PIDS+=($!)
wait_line "$RUN/ex.out" '"ready": true' 20 > /dev/null || fail "roamline hil exchange run"

# box: identify that modem; detection matches it against the shipped modem profiles.
"$RL" box diag modem --device "$RUN/ex/modem-5551000" --json > "$RUN/diag.out" || fail "roamline box diag modem"
grep -q '"profile": "cx93001"' <(tail -1 "$RUN/diag.out") || fail "box diag modem did not detect cx93001"

# bench: the line driver's benchmark, short (a full-duplex call on the shipped cx93001 modem profile).
"$RL" bench line --seconds 1 --parse-mb 1 --json > "$RUN/bench.out" 2> "$RUN/bench.err" || fail "roamline bench line"
tail -1 "$RUN/bench.out" | "$VPY" -c 'import json, sys; d = json.loads(sys.stdin.read()); assert d["profile"] == "cx93001" and d["voice_bytes_received"] > 0' \
  || fail "roamline bench line printed no result"

say "passed in $((SECONDS - START)) s (wheel from the sdist, fresh venv in $WORK)"
