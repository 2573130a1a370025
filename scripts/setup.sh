#!/usr/bin/env bash
# Installs what bitsmith needs on a fresh Debian machine: apt packages and a
# project-local venv with the pinned Python packages. Idempotent: each step is
# skipped when the hash of its pin file matches the stamp left by the last run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mkdir -p .stamps

stamp_ok() { [ -f ".stamps/$1" ] && [ "$(cat ".stamps/$1")" = "$2" ]; }

apt_hash=$(sha256sum deps/apt-packages.txt | cut -d' ' -f1)
if ! stamp_ok apt "$apt_hash"; then
  pkgs=$(grep -v '^#' deps/apt-packages.txt | xargs)
  # shellcheck disable=SC2086
  if ! dpkg -s $pkgs >/dev/null 2>&1; then
    echo "[setup] installing Debian packages: $pkgs"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $pkgs >/dev/null
  fi
  echo "$apt_hash" > .stamps/apt
fi

py_hash=$(sha256sum deps/requirements.txt | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || ! stamp_ok venv "$py_hash"; then
  echo "[setup] preparing .venv with pinned Python packages"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check "$(grep '^torch==' deps/requirements.txt)"
  .venv/bin/pip install -q --disable-pip-version-check -r deps/requirements.txt
  echo "$py_hash" > .stamps/venv
fi
