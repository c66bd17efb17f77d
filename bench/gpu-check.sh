#!/usr/bin/env bash
# Everything the GPU machine has to do, in one call (it has CUDA 13, PyTorch and python3, but no .NET and no network).
# Prepare here with bench/gpu-pack.sh, then run from the repository root with the carry folder, e.g. with the `run` tool:
#   command: bash bench/gpu-check.sh     carry: [".gpu-carry"]     timeout_s: 540
# Writes under $OUT: gpu-check.log, nvidia-smi.txt, gpu-bench.json (CPU vs ILGPU: self-check, kNN, coreset, bottle)
# and gpu-compare.json (+ the table) with torch.cdist + topk on the same kNN data.
# Without a GPU it says so, and runs the CPU parts at small sizes.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
carry="${CARRY:-$repo/.gpu-carry}"
OUT="${OUT:-$repo/gpu-out}"
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu-check.log") 2>&1
echo "gpu-check $(date -u +%FT%TZ) on $(hostname)"

for f in app dotnet; do
  [ -f "$carry/$f.tar.xz" ] || { echo "missing $carry/$f.tar.xz: run bench/gpu-pack.sh first and carry .gpu-carry"; exit 2; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/dotnet"
tar -C "$work/dotnet" -xJf "$carry/dotnet.tar.xz"
tar -C "$work" -xJf "$carry/app.tar.xz"
bottle_args=()
if [ -f "$carry/bottle.tar.xz" ]; then
  tar -C "$work" -xJf "$carry/bottle.tar.xz"
  bottle_args=(--bottle "$work/bottle" --pipeline "$work/app/pipelines/patchcore-mobilenet.json")
fi
export DOTNET_ROOT="$work/dotnet" PATH="$work/dotnet:$PATH" DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
unset PF_CUDA_ON_CPU_ACCELERATOR

sizes=full
if nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv | tee "$OUT/nvidia-smi.txt"; then
  echo "GPU found."
else
  echo "NO GPU FOUND (nvidia-smi failed): running the CPU parts at small sizes; nothing here measures a GPU."
  sizes=small
fi

set -x
timeout 420 dotnet "$work/app/PipelineFramework.Bench.dll" gpu --self-check --sizes "$sizes" --dump "$work/dump" \
  "${bottle_args[@]}" --out "$OUT/gpu-bench.json"
bench_rc=$?
timeout 150 python3 "$repo/bench/gpu_compare.py" --bench "$OUT/gpu-bench.json" --dump "$work/dump" \
  --smi "$OUT/nvidia-smi.txt" --out "$OUT/gpu-compare.json"
compare_rc=$?
set +x
echo "bench exit $bench_rc (1 = a self-check failed), compare exit $compare_rc"
exit $(( bench_rc != 0 ? bench_rc : compare_rc ))
