#!/usr/bin/env bash
# Packs the framework and every plugin into artifacts/packages with a fresh version, then builds and runs the sample
# apps that restore them from there (as an application outside this repository would): samples/packaged/PackagedApp
# and samples/packaged/OnnxComposition. Needs only the .NET SDK and network access to nuget.org for ML.NET and friends.
set -euo pipefail
cd "$(dirname "$0")/../.."
version="0.1.0-local.$(date -u +%Y%m%d%H%M%S)"
rm -rf artifacts/packages
dotnet pack PipelineFramework.sln -c Release -p:PackageVersion="$version" -o artifacts/packages --nologo -v quiet
ls artifacts/packages
for app in PackagedApp OnnxComposition; do
  echo "== samples/packaged/$app (PipelineFramework $version)"
  dotnet build "samples/packaged/$app" -c Release -p:PipelineFrameworkVersion="$version" --nologo -v quiet
  dotnet run --project "samples/packaged/$app" -c Release --no-build -p:PipelineFrameworkVersion="$version"
done
