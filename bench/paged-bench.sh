#!/usr/bin/env bash
# Paged KV cache benchmark of the engine on the generated 101.5M-parameter fp32 Llama of bench/decode-bench.sh (the
# same model folder is reused): time to first token of a request whose 1,000-token system prompt is in the prefix
# cache against the first request that computed it, and 256-token conversations served at equal KV memory by today's
# admission (max_model_len per sequence: 8 at once) and by admission by real tokens, side by side in alternating
# rounds. Prints a markdown table. TorchSharp needs GCC 13's libstdc++, so on older hosts it runs inside scripts/trixie.
# Usage: bench/paged-bench.sh [--threads 2] [--rounds 3] [--conversations 24] ...   (options go to the benchmark)
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$repo"
echo "==> building bench/Bento.PagedBench (Release)" >&2
dotnet build bench/Bento.PagedBench -c Release -o .build/paged-bench/bin --nologo -v quiet -clp:ErrorsOnly
run=(dotnet .build/paged-bench/bin/bento-paged-bench.dll --work .build/decode-bench "$@")
if [[ ${BENTO_IN_TRIXIE:-} != 1 ]] && scripts/trixie needed; then
  scripts/trixie run "${run[@]}"
else
  "${run[@]}"
fi
