#!/usr/bin/env bash
# Builds the two programs the GPU session script runs (gpu-session.sh) for the GPU machine, which has no dotnet and takes
# at most 64 MiB of carried files: `sparkle-gpucheck` into publish/gpucheck and the CLI `sparkle` into publish/cli (both
# git-ignored), each one self-contained linux-x64 single file, compressed, partially trimmed with CoreLib kept whole
# (publish.targets). Untrimmed, each file is ~38 MiB, so the pair would not fit. Prints the sizes; exits 1 if the pair
# is over the limit. Run from anywhere: ./Samples/GpuCheck/publish.sh   (then carry publish/gpucheck and publish/cli).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
FLAGS=(-c Release -r linux-x64 --self-contained
       -p:PublishSingleFile=true -p:EnableCompressionInSingleFile=true
       -p:PublishTrimmed=true -p:TrimMode=partial
       "-p:CustomAfterMicrosoftCommonTargets=$ROOT/Samples/GpuCheck/publish.targets"
       # The CLI's run logs use System.Text.Json's reflection serializer, which trimming turns off by default.
       -p:JsonSerializerIsReflectionEnabledByDefault=true
       # ILGPU and the serializer are not trim-annotated; partial trimming leaves them whole, so their warnings are noise.
       -p:SuppressTrimAnalysisWarnings=true
       -p:DebugType=none)
dotnet publish Samples/GpuCheck "${FLAGS[@]}" -o publish/gpucheck
dotnet publish Samples/Sparkle.Cli "${FLAGS[@]}" -o publish/cli
ls -l publish/gpucheck publish/cli
total=$(du -cb publish/gpucheck publish/cli | tail -1 | cut -f1)
echo "publish/gpucheck: $(du -sb publish/gpucheck | cut -f1) bytes; publish/cli: $(du -sb publish/cli | cut -f1) bytes; together $((total / 1048576)) MiB of the 64 MiB carry limit"
[ "$total" -lt $((64 * 1048576)) ] || { echo "publish: over the 64 MiB carry limit" >&2; exit 1; }
