#!/usr/bin/env bash
# Debian packages the test suite uses: a real MQTT 5 broker (mosquitto) and its clients (mosquitto_sub, which the
# README uses), libgpiod tools (gpiod), numpy for the training-side tensor reader in the preprocessing parity test,
# libgphoto2 so node-gphoto2 builds, systemd-analyze for the unit-file check, and openssl for the certificates of the
# MQTT TLS tests. Idempotent; uses sudo when not
# root. Waits for another apt or dpkg (unattended-upgrades on a fresh machine) instead of failing.
set -euo pipefail
pkgs=(mosquitto mosquitto-clients gpiod python3 python3-numpy libgphoto2-dev pkg-config g++ make systemd shellcheck openssl chromium)
# Seconds to wait for a lock held by another apt or dpkg.
lock_wait_s=600
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then echo "test dependencies present"; exit 0; fi
sudo_cmd=""
[ "$(id -u)" = 0 ] || sudo_cmd="sudo"
export DEBIAN_FRONTEND=noninteractive
# DPkg::Lock::Timeout (apt >= 1.9.11; Debian 12 has 2.6) makes apt-get wait for the dpkg locks, but `update` takes
# /var/lib/apt/lists/lock without waiting: retry it while another apt holds that lock, for as long.
apt_opts=(-o "DPkg::Lock::Timeout=${lock_wait_s}")
deadline=$((SECONDS + lock_wait_s))
until out=$($sudo_cmd apt-get "${apt_opts[@]}" update -q 2>&1); do
  printf '%s\n' "$out" >&2
  if ! grep -q 'Could not get lock' <<<"$out" || [ "$SECONDS" -ge "$deadline" ]; then exit 100; fi
  echo "install-test-deps: another apt holds the package lists lock; waiting" >&2
  sleep 5
done
printf '%s\n' "$out"
$sudo_cmd apt-get "${apt_opts[@]}" install -y -q --no-install-recommends "${missing[@]}"
# The README's first command (npm install) may have run before libgphoto2-dev was here: npm then left the optional
# node-gphoto2 addon out. Build it now, as the invoking user, so the gphoto2 tests run instead of being skipped.
cd "$(dirname "$0")/.."
if [[ " ${missing[*]} " == *" libgphoto2-dev "* ]] && [ -d node_modules ]; then
  echo "install-test-deps: libgphoto2-dev was just installed; building the optional gphoto2 addon"
  if [ -d node_modules/gphoto2 ]; then
    npm rebuild gphoto2
  else
    npm install --no-audit --no-fund
  fi
fi
