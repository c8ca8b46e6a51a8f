#!/usr/bin/env bash
# Runs ON THE DEVICE MACHINE (a real GPU), from the repository root, results under $OUT:
#   1. unpacks Deno from out/gpu/deno.xz (made by scripts/gpu/prepare.sh), the Vulkan loader
#      from out/gpu/debs when the machine has none, and records the GPU and adapter;
#   2. the kernel and GPU tests (every kernel against its f64 reference) — a failure stops here;
#   3. `deno task bench --scale` at real widths, smallest first, each stage under a time limit
#      taken from what is left of SCALE_BUDGET_S (default 540 s), each writing its own JSON:
#        scale-d2048.json  d 2048, depth 16, vocab 32000, f16, BlockPruner/SLEB first step
#                          measured and the rest projected, + the Llama-3.2-1B-shaped step
#        scale-d4096-sprint.json       d 4096, depth 32, vocab 32000, f16, 8 × 128, SPRINT
#        scale-d4096-blockpruner.json  the same model, BlockPruner's first step (rest projected)
#      A stage that runs out of time is killed; bench.log (all stages) says how far it got.
# Device tool: carry ["out/gpu"], command "bash scripts/gpu/scale.sh", timeout_s 600.
# Locally (a rehearsal with tiny shapes): OUT=/tmp/o SCALE_TINY=1 bash scripts/gpu/scale.sh
set -uo pipefail
: "${OUT:?set OUT to the results folder}"
mkdir -p "$OUT"
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
start=$(date +%s)
budget=${SCALE_BUDGET_S:-540}
left() { echo $((budget - ($(date +%s) - start))); }
log="$OUT/run.log"
say() { echo "[scale.sh $(($(date +%s) - start)) s] $*" | tee -a "$log"; }

# 1. Deno and the Vulkan loader.
if command -v deno >/dev/null 2>&1 && [ "${SCALE_USE_CARRIED_DENO:-0}" != 1 ]; then
  DENO="$(command -v deno)"
else
  [ -s out/gpu/deno.xz ] || { say "out/gpu/deno.xz missing: run scripts/gpu/prepare.sh and carry out/gpu"; exit 2; }
  mkdir -p /tmp/scale-deno
  xz -dc out/gpu/deno.xz >/tmp/scale-deno/deno && chmod +x /tmp/scale-deno/deno
  DENO=/tmp/scale-deno/deno
fi
export PATH="$(dirname "$DENO"):$PATH"
LDCONFIG="$(command -v ldconfig || echo /sbin/ldconfig)"
has_vulkan() {
  "$LDCONFIG" -p 2>/dev/null | grep -q 'libvulkan.so.1' && return 0
  for d in /usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu /usr/lib64 /usr/lib; do
    [ -e "$d/libvulkan.so.1" ] && return 0
  done
  return 1
}
# The carried loaders are unpacked into / only on a machine with an NVIDIA driver and no loader
# of its own (the device machine, as its notes advise), never on a development machine.
if ! has_vulkan; then
  if [ "$(id -u)" = 0 ] && command -v nvidia-smi >/dev/null 2>&1 && ls out/gpu/debs/*.deb >/dev/null 2>&1; then
    for f in out/gpu/debs/*.deb; do dpkg -x "$f" /; done
    "$LDCONFIG"
    say "installed the carried Vulkan/EGL loaders"
  else
    say "no libvulkan.so.1 (and no NVIDIA machine or carried loader) — WebGPU may find no adapter"
  fi
fi
for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
  if [ -f "$icd" ] && [ -z "${VK_DRIVER_FILES:-}" ]; then export VK_DRIVER_FILES="$icd"; fi
done
export DENO_WEBGPU_BACKEND=${DENO_WEBGPU_BACKEND:-vulkan}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
export DENO_NO_UPDATE_CHECK=1
if [ -d out/gpu/deno_dir ]; then
  rm -rf /tmp/scale-deno-dir && cp -r out/gpu/deno_dir /tmp/scale-deno-dir
  export DENO_DIR=/tmp/scale-deno-dir
fi
{
  echo "date: $(date -u +%FT%TZ)"
  echo "deno: $("$DENO" --version | head -1)"
  echo "git: $(git rev-parse HEAD 2>/dev/null || echo unknown)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "nvidia-smi: none"
  echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-}"
  "$DENO" eval 'const a = await navigator.gpu?.requestAdapter(); console.log("adapter:", a ? JSON.stringify(a.info) : "none", a ? `maxStorageBufferBindingSize ${a.limits.maxStorageBufferBindingSize} maxBufferSize ${a.limits.maxBufferSize} shader-f16 ${a.features.has("shader-f16")}` : "")' 2>&1
} >"$OUT/env.txt"
cat "$OUT/env.txt" | tee -a "$log"
grep -q '^adapter: none' "$OUT/env.txt" && { say "no WebGPU adapter: stopping"; exit 3; }

# 2. Kernel tests first (f64 references): a wrong kernel makes every timing below meaningless.
tests="tests/kernels tests/gpu"
[ "${SCALE_TINY:-0}" = 1 ] && tests="tests/kernels/rmsnorm_test.ts"
say "kernel tests: $tests (limit $(($(left) / 3)) s)"
timeout $(($(left) / 3)) "$DENO" test -A --cached-only $tests >"$OUT/kernels.log" 2>&1
rc=$?
tail -3 "$OUT/kernels.log" | tee -a "$log"
if [ $rc -ne 0 ]; then say "kernel tests failed or timed out (rc $rc): no benchmark"; exit 1; fi

# 3. The scale benchmark at real widths.
stage() { # name, share of the remaining time (percent), flags...
  local name=$1 share=$2
  shift 2
  local limit=$(($(left) * share / 100))
  if [ "$limit" -lt 30 ]; then say "$name: skipped (only $(left) s left)"; return; fi
  say "$name: deno task bench --scale $* (limit $limit s)"
  echo "=== $name: bench --scale $*" >>"$OUT/bench.log"
  timeout "$limit" "$DENO" run -A --cached-only tasks/bench.ts --scale "$@" --json "$OUT/$name.json" >>"$OUT/bench.log" 2>&1
  local rc=$?
  say "$name: rc $rc$([ $rc = 124 ] && echo ' (time limit: partial, see bench.log)')"
}
if [ "${SCALE_TINY:-0}" = 1 ]; then
  stage scale-tiny 90 --scale-depths 2,4 --scale-hidden 32 --scale-vocab 64 --scale-nsamples 4 \
    --scale-seq-len 16 --scale-sublayers 2 --scale-steps 1 --scale-1b plan
else
  stage scale-d2048 55 --scale-depths 16 --scale-hidden 2048 --scale-vocab 32000 --scale-dtype f16 \
    --scale-steps 1 --scale-1b step
  # d 4096 in two runs (each writes its JSON) so that a time-out of the second keeps the first.
  d4096="--scale-depths 32 --scale-hidden 4096 --scale-vocab 32000 --scale-dtype f16 --scale-nsamples 8 --scale-1b none"
  # shellcheck disable=SC2086
  stage scale-d4096-sprint 45 $d4096 --scale-methods sprint --scale-check-steps 0
  # shellcheck disable=SC2086
  stage scale-d4096-blockpruner 95 $d4096 --scale-methods blockpruner --scale-steps 1
fi
say "done; files: $(ls "$OUT" | tr '\n' ' ')"
