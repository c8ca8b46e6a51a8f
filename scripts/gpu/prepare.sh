#!/usr/bin/env bash
# Run HERE (the development machine), once, before asking for a device machine: packs what
# scripts/gpu/scale.sh needs into out/gpu/ (ignored by git; name it in the device tool's `carry`):
#   out/gpu/deno.xz   this machine's Deno binary, xz-compressed (the device machine has no Deno)
#   out/gpu/debs/     the Vulkan/EGL loader packages (amd64) in case the device lacks libvulkan
#   out/gpu/deno_dir/ a Deno cache with the npm packages the benchmark and kernel tests import
# Usage: scripts/gpu/prepare.sh [DENO_BINARY]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
dest="$root/out/gpu"
deno_bin="${1:-$(command -v deno || true)}"
if [ -z "$deno_bin" ] || [ ! -x "$deno_bin" ]; then
  echo "prepare.sh: no deno binary (put Deno on PATH or pass its path)" >&2
  exit 2
fi
deno_bin="$(readlink -f "$deno_bin")"
mkdir -p "$dest/debs"
if [ ! -s "$dest/deno.xz" ] || [ "$deno_bin" -nt "$dest/deno.xz" ]; then
  nice xz -T1 -6 -c "$deno_bin" >"$dest/deno.xz.tmp"
  mv "$dest/deno.xz.tmp" "$dest/deno.xz"
fi
"$deno_bin" --version | head -1 >"$dest/deno.version"
if [ -z "$(ls "$dest/debs"/*.deb 2>/dev/null)" ] && [ "${SKIP_DEBS:-0}" != 1 ]; then
  lists=/tmp/amd64-lists
  mkdir -p "$lists/partial"
  o="-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=$lists"
  # shellcheck disable=SC2086
  apt-get $o update >/dev/null
  # shellcheck disable=SC2086
  (cd "$dest/debs" && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
# The npm packages the tasks import (the device machine cannot reach the registry): a Deno
# cache holding exactly what the benchmark and the kernel tests load.
if [ ! -d "$dest/deno_dir/npm" ]; then
  (cd "$root" && DENO_DIR="$dest/deno_dir" "$deno_bin" cache tasks/bench.ts tests/kernels/*.ts tests/gpu/*.ts >/dev/null)
  rm -rf "$dest/deno_dir/gen" # compiled for this checkout's paths: useless there
fi
du -sh "$dest"/* | sed "s|$root/||"
echo "carry: out/gpu   (the working tree plus this must stay under 64 MiB)"
