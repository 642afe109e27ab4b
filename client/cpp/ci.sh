#!/usr/bin/env bash
# CI for the C++ clients: install the Debian packages they need, build, run ctest (unit,
# package and integration tests, which start the real Deno processes), then build again with
# AddressSanitizer and UndefinedBehaviorSanitizer and run the unit and integration tests there
# (the package test, which reinstalls and rebuilds, runs in the plain build only).
set -euo pipefail
cd "$(dirname "$0")"

packages=(libasio-dev nlohmann-json3-dev libssl-dev libgtest-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "The C++ build needs ${missing[*]}: install them with apt-get as root" >&2
    exit 1
  fi
  echo "installing ${missing[*]} from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for tool in cmake g++ deno openssl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "The C++ build needs $tool" >&2; exit 1; }
done

out="${GATEHOUSE_CPP_BUILD_DIR:-$(mktemp -d /tmp/gatehouse_cpp_ci.XXXXXX)}"
jobs="${GATEHOUSE_CPP_JOBS:-2}"

echo "-- build (Release) in $out/release"
cmake -S . -B "$out/release" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$out/release" -j"$jobs"
(cd "$out/release" && ctest --output-on-failure -j"$jobs")

echo "-- build with -fsanitize=address,undefined in $out/asan"
cmake -S . -B "$out/asan" -DCMAKE_BUILD_TYPE=Debug -DGATEHOUSE_BUILD_EXAMPLES=OFF \
  -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" >/dev/null
cmake --build "$out/asan" -j"$jobs"
(cd "$out/asan" && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j"$jobs" -E '^Package\.')
