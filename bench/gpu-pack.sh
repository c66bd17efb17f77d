#!/usr/bin/env bash
# Builds what bench/gpu-check.sh needs on the GPU machine (no .NET, no network there) into .gpu-carry/ (git-ignored):
#   app.tar.xz     framework-dependent `dotnet publish -r linux-x64` of the benchmark (+ plugins, pipelines)
#   dotnet.tar.xz  the .NET runtime from this machine: dotnet, host/, shared/Microsoft.NETCore.App/<version>/
#   bottle.tar.xz  the MVTec bottle category (CC BY-NC-SA 4.0, from ../shared/datasets)
# Everything must stay under 64 MiB (the most `run` carries). Usage: bench/gpu-pack.sh   (from anywhere)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
carry="$repo/.gpu-carry"
bottle="${BOTTLE:-$repo/../shared/datasets/mvtec_bottle_256/bottle}"
dotnet_root="${DOTNET_ROOT:-$(dirname "$(readlink -f "$(command -v dotnet)")")}"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
rm -rf "$carry"
mkdir -p "$carry"

echo "publish: bench (framework-dependent, linux-x64)"
dotnet publish "$repo/bench/PipelineFramework.Bench" -c Release -r linux-x64 --self-contained false -o "$stage/app" -v quiet -nologo
mkdir -p "$stage/app/pipelines"
cp "$repo"/pipelines/*.json "$stage/app/pipelines/"
# Not needed on Linux or at run time: Windows natives, symbols, XML docs; the host's own ONNX Runtime copy (the
# features plugin loads the one in its folder).
find "$stage/app" \( -name '*.pdb' -o -name '*.dbg' -o -name '*.xml' -o -name 'onnxruntime*.dll' \) -delete
rm -f "$stage/app/libonnxruntime.so"
# Plugins the GPU check never loads (it runs patchcore-mobilenet): the LLM explainer alone is ~5 MiB of Semantic Kernel.
rm -rf "$stage/app/plugins/"{Explain.SemanticKernel,Logic.Components,Scoring.SimpleNet,Synthesis.Blend,Synthesis.FeatureNoise}
xz_tar() { tar -C "$1" -cf - "${@:3}" | xz -9e -T0 > "$2"; }
xz_tar "$stage" "$carry/app.tar.xz" app

runtime=$(ls "$dotnet_root/shared/Microsoft.NETCore.App" | sort -V | tail -1)
echo "runtime: $dotnet_root (Microsoft.NETCore.App $runtime)"
# The runtime without its debugging pieces (DAC, debugger shim, crash dumper, LTTng provider).
mkdir -p "$stage/dotnet/shared/Microsoft.NETCore.App"
cp -a "$dotnet_root/dotnet" "$dotnet_root/host" "$stage/dotnet/"
cp -a "$dotnet_root/shared/Microsoft.NETCore.App/$runtime" "$stage/dotnet/shared/Microsoft.NETCore.App/"
rm -f "$stage/dotnet/shared/Microsoft.NETCore.App/$runtime"/{libmscordaccore.so,libmscordbi.so,createdump,libcoreclrtraceptprovider.so}
(cd "$stage/dotnet" && tar -cf - dotnet host shared) | xz -9e -T0 > "$carry/dotnet.tar.xz"

# The carry travels with the working tree (~16 MiB), 64 MiB in all: a fixed subset of bottle (the first 60 training
# images, the first 8 test images of each kind with their masks, sorted by name) keeps it inside. The check compares
# the CPU and CUDA paths on the same subset in one run, so the subset does not weaken that comparison.
if [ -d "$bottle" ]; then
  subset="$stage/subset/bottle"
  mkdir -p "$subset/train/good"
  ls "$bottle/train/good" | sort | head -60 | while read -r f; do cp "$bottle/train/good/$f" "$subset/train/good/"; done
  for kind in $(ls "$bottle/test"); do
    mkdir -p "$subset/test/$kind"
    ls "$bottle/test/$kind" | sort | head -8 | while read -r f; do
      cp "$bottle/test/$kind/$f" "$subset/test/$kind/"
      mask="$bottle/ground_truth/$kind/${f%.*}_mask.png"
      if [ -f "$mask" ]; then mkdir -p "$subset/ground_truth/$kind"; cp "$mask" "$subset/ground_truth/$kind/"; fi
    done
  done
  xz_tar "$stage/subset" "$carry/bottle.tar.xz" bottle
else
  echo "warning: $bottle not found: gpu-check.sh will skip the bottle evaluation"
fi

tree=$(cd "$repo" && git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
du -b "$carry"/* | awk -v tree="$tree" '{printf "%8.1f MiB  %s\n", $1/1048576, $2; total += $1} END {printf "%8.1f MiB  working tree (travels too)\n%8.1f MiB  total (limit 64 MiB)\n", tree/1048576, (total+tree)/1048576; if (total + tree >= 64*1048576) exit 1}'
