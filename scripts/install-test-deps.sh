#!/usr/bin/env bash
# Debian packages the test suite uses: a real MQTT 5 broker (mosquitto), libgpiod tools (gpiod), numpy for the
# training-side tensor reader in the preprocessing parity test, libgphoto2 so node-gphoto2 builds, and
# systemd-analyze for the unit-file check. Idempotent; uses sudo when not root.
set -euo pipefail
pkgs=(mosquitto gpiod python3 python3-numpy libgphoto2-dev pkg-config g++ make systemd shellcheck)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then echo "test dependencies present"; exit 0; fi
sudo_cmd=""
[ "$(id -u)" = 0 ] || sudo_cmd="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo_cmd apt-get update -q
$sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
