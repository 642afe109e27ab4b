#!/bin/sh
# Fails unless the license library exports only gatehouse's public API (and its version node).
set -eu
lib="$1"
symbols=$(nm -D --defined-only "$lib")
unexpected=$(printf '%s\n' "$symbols" | grep -v ' A GATEHOUSE_LICENSE_1$' |
  grep -Ev ' T _ZN(K)?9gatehouse(13LicenseClient|16loadMessageTypes|17licenseStatusName)' || true)
if [ -n "$unexpected" ]; then
  echo "Unexpected exported symbols:"
  printf '%s\n' "$unexpected"
  exit 1
fi
count=$(printf '%s\n' "$symbols" | grep -c ' T ')
[ "$count" -ge 20 ] || { echo "Only $count public symbols exported"; exit 1; }
echo "$count public symbols, nothing else"
