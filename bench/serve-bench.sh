#!/usr/bin/env bash
# Serving benchmark of issue 10: a generated Llama-3.2-1B-shaped model (bfloat16 safetensors, tied, vocab 128256)
# built into two bentos (as it is, and `model: {quantize: int8}`), each served by `bento serve` and streamed over
# HTTP at batch 1 with 2 threads, against llama.cpp (LLamaSharp 0.30) on an F16 GGUF of the same weights and on its
# Q8_0 quantization, alternating rounds in one run; plus the runtime's resident memory against the weight file and
# the int8 bento's stored weights against float32. Prints a markdown section for docs/benchmarks.md.
# The first run generates the model (2.5 GB) and the GGUFs (2.5 + 1.3 GB) under .build/serve-bench (a few minutes).
# Usage: bench/serve-bench.sh [--threads 2] [--rounds 5] [--decode-tokens 64] [--layers 16]
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$repo"
echo "==> building bench/Bento.DecodeBench, the CLI and the runtime (Release)" >&2
dotnet build bench/Bento.DecodeBench -c Release -o .build/decode-bench/bin --nologo -v quiet -clp:ErrorsOnly
run=(dotnet .build/decode-bench/bin/bento-decode-bench.dll serve --work .build/serve-bench --repo "$repo" "$@")
if [[ ${BENTO_IN_TRIXIE:-} != 1 ]] && scripts/trixie needed; then
  scripts/trixie run "${run[@]}"
else
  "${run[@]}"
fi
