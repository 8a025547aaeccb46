#!/usr/bin/env bash
# Decode benchmark of the runtime (issue: TorchSharp eager runner) against llama.cpp (LLamaSharp) on the same
# generated ~100M-parameter fp32 Llama, side by side in one run: batch-1 decode tokens/s (same thread count),
# time to first token for a 512-token prompt, batch-8 aggregate decode tokens/s, resident memory. Prints a markdown
# table. TorchSharp needs GCC 13's libstdc++, so on older hosts the benchmark runs inside scripts/trixie.
# Usage: bench/decode-bench.sh [--threads 2] [--layers 16] [--rounds 3] ...   (options go to the benchmark)
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$repo"
echo "==> building bench/Bento.DecodeBench (Release)" >&2
dotnet build bench/Bento.DecodeBench -c Release -o .build/decode-bench/bin --nologo -v quiet -clp:ErrorsOnly
run=(dotnet .build/decode-bench/bin/bento-decode-bench.dll --work .build/decode-bench "$@")
if [[ ${BENTO_IN_TRIXIE:-} != 1 ]] && scripts/trixie needed; then
  scripts/trixie run "${run[@]}"
else
  "${run[@]}"
fi
