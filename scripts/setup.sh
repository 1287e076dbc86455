#!/usr/bin/env bash
# Installs what a fresh machine lacks to build and test, then prints the
# environment to use (`eval "$(scripts/setup.sh)"`):
#   - cmake >= 3.26 for HDF5's bundled build (pip's; Debian's 3.25 is too old)
#   - the wasm32-wasip2 Rust target for plugins
#   - for the online mode (rdkafka's bundled librdkafka, built with cmake):
#     the libcurl, OpenSSL and zlib headers, and for its tests a Kafka broker
#     (Java 17 + Maven, the jars assembled by scripts/kafka.sh)
set -euo pipefail

log() { echo "setup: $*" >&2; }

version_ok() { # $1 = "X.Y.Z": at least 3.26?
  local major minor
  IFS=. read -r major minor _ <<<"$1"
  [ "${major:-0}" -gt 3 ] || { [ "${major:-0}" -eq 3 ] && [ "${minor:-0}" -ge 26 ]; }
}

cmake_version() { "$1" --version 2>/dev/null | sed -n 's/^cmake version \([0-9.]*\).*/\1/p'; }

find_pip_cmake() {
  python3 - <<'PY' 2>/dev/null
import os
try:
    import cmake
    print(os.path.join(cmake.CMAKE_BIN_DIR, "cmake"))
except Exception:
    pass
PY
}

CMAKE_BIN=""
if [ -n "${CMAKE:-}" ] && [ -x "${CMAKE}" ] && version_ok "$(cmake_version "$CMAKE")"; then
  CMAKE_BIN="$CMAKE"
elif command -v cmake >/dev/null 2>&1 && version_ok "$(cmake_version "$(command -v cmake)")"; then
  CMAKE_BIN="$(command -v cmake)"
else
  CMAKE_BIN="$(find_pip_cmake)"
  if [ -z "$CMAKE_BIN" ] || ! version_ok "$(cmake_version "$CMAKE_BIN")"; then
    log "installing cmake>=3.26 with pip (HDF5's build needs it)"
    python3 -m pip install --quiet --disable-pip-version-check 'cmake>=3.26' >&2 \
      || python3 -m pip install --quiet --disable-pip-version-check --user 'cmake>=3.26' >&2
    CMAKE_BIN="$(find_pip_cmake)"
  fi
fi
if [ -z "$CMAKE_BIN" ] || ! version_ok "$(cmake_version "$CMAKE_BIN")"; then
  log "could not find or install cmake >= 3.26: install it (pip install cmake) and retry"
  exit 1
fi

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
  log "adding the wasm32-wasip2 Rust target (plugins are built for it)"
  rustup target add wasm32-wasip2 >&2
fi

apt_install() { # packages... (Debian, as root; otherwise say what is missing)
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "missing: $* (install them with your package manager)"
    return 0
  fi
  log "installing $* (apt-get)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2 \
    || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2; }
}

missing=()
for pkg in libcurl4-openssl-dev libssl-dev zlib1g-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
if [ "${#missing[@]}" -gt 0 ] && command -v dpkg >/dev/null 2>&1; then
  apt_install "${missing[@]}"
fi
if command -v java >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1; then
  "$(dirname "$0")/kafka.sh" install || log "could not assemble Kafka: the online tests will fail"
fi

echo "export CMAKE='$CMAKE_BIN'"
