#!/usr/bin/env bash
# Set up everything `make` targets need on a fresh Debian machine: apt packages, .venv, pinned pip
# packages, and this project installed in editable mode. Idempotent: a second run does nothing slow.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  pcscd libpcsclite-dev swig vsmartcard-vpcd pcsc-tools opensc systemd   # PC/SC, virtual reader, OpenSC
  socat                                                                   # serial/pty tooling
  portaudio19-dev libspeexdsp-dev                                         # audio backends, echo canceller
  minimodem espeak-ng sox                                                 # independent FSK peer, speech, audio tools
  mtools dosfstools fdisk e2fsprogs                                       # partitions without mounting (flashing, images: mkfs.ext4 -d, debugfs)
  fonts-dejavu-core zbar-tools poppler-utils                              # box labels (font), QR and PDF text read back in tests
  gpsd gpsd-clients                                                       # real gpsd + gpsfake (NMEA replay) for GPS tests
  sip-tester                                                              # SIPp: the answering point of the SIP emergency route in tests
)

# `scripts/bootstrap.sh --image` (make image-test, `provision image build` from Debian): an arm64 root
# filesystem built here (mmdebstrap, arm64 binaries run by qemu-user-static through binfmt_misc) and
# booted under qemu-system-aarch64.
IMAGE_PACKAGES=(mmdebstrap qemu-user-static binfmt-support arch-test qemu-system-arm)
if [ "${1:-}" = "--image" ]; then
  APT_PACKAGES+=("${IMAGE_PACKAGES[@]}")
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ "${1:-}" = "--image" ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  # the kernel has binfmt_misc, not always mounted; then let qemu-aarch64 run arm64 binaries
  mountpoint -q /proc/sys/fs/binfmt_misc || $SUDO mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  $SUDO update-binfmts --enable qemu-aarch64 2>/dev/null || true
  arch-test arm64 >/dev/null || { echo "bootstrap: arm64 binaries do not run here (binfmt_misc)" >&2; exit 1; }
  echo "bootstrap: arm64 binaries run here (qemu-user-static, binfmt_misc)"
fi

if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  python3 -m venv .venv
fi
echo "bootstrap: installing pinned Python packages (requirements.lock)"
.venv/bin/pip install -q --disable-pip-version-check -r requirements.lock
.venv/bin/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
echo "bootstrap: ready"
