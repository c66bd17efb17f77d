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

if [ -d "$bottle" ]; then
  xz_tar "$(dirname "$bottle")" "$carry/bottle.tar.xz" "$(basename "$bottle")"
else
  echo "warning: $bottle not found: gpu-check.sh will skip the bottle evaluation"
fi

du -b "$carry"/* | awk '{printf "%8.1f MiB  %s\n", $1/1048576, $2; total += $1} END {printf "%8.1f MiB  total (limit 64 MiB)\n", total/1048576; if (total >= 64*1048576) exit 1}'
