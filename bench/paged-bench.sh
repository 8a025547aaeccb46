#!/usr/bin/env bash
# Paged KV cache benchmark of the engine on the generated 101.5M-parameter fp32 Llama of bench/decode-bench.sh (the
# same model folder is reused): time to first token of a request whose 1,000-token system prompt is in the prefix
# cache against the first request that computed it, and 256-token conversations served at equal KV memory by today's
# admission (max_model_len per sequence: 8 at once) and by admission by real tokens, side by side in alternating
# rounds. Prints a markdown table. TorchSharp needs GCC 13's libstdc++, so on older hosts it runs inside scripts/trixie.
#
# With --baseline REV (e.g. main) the concurrency part also runs, in alternating processes, against REV's own runtime
# (its slot cache and scheduler, exported with git archive into .build/baseline-REV and built with the same benchmark
# source): "today" measured with the code it replaces, not only emulated.
# Usage: bench/paged-bench.sh [--baseline REV [--pairs 2]] [--threads 2] [--rounds 3] [--conversations 24] ...
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$repo"
baseline=""
pairs=2
args=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --baseline) baseline=$2; shift 2 ;;
    --pairs) pairs=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
in_trixie() { if [[ ${BENTO_IN_TRIXIE:-} != 1 ]] && scripts/trixie needed; then scripts/trixie run "$@"; else "$@"; fi; }
echo "==> building bench/Bento.PagedBench (Release)" >&2
dotnet build bench/Bento.PagedBench -c Release -o .build/paged-bench/bin --nologo -v quiet -clp:ErrorsOnly
this=(dotnet .build/paged-bench/bin/bento-paged-bench.dll --work "$repo/.build/decode-bench" "${args[@]}")
if [[ -z $baseline ]]; then
  in_trixie "${this[@]}"
  exit
fi
commit=$(git rev-parse --short=7 "$baseline^{commit}")
base=".build/baseline-$commit"
if [[ ! -f $base/BentoBuilder.sln ]]; then
  rm -rf "$base" && mkdir -p "$base"
  git archive "$commit" | tar -x -C "$base"
fi
echo "==> building the benchmark against $baseline ($commit)'s runtime" >&2
rm -rf "$base/bench/Bento.PagedBench" && cp -r bench/Bento.PagedBench "$base/bench/" && mkdir -p "$base/bench/lib" && cp bench/lib/BenchArgs.cs "$base/bench/lib/"
(cd "$base" && dotnet build bench/Bento.PagedBench -c Release -o .build/paged-bench/bin -p:BentoBenchBaseline=true --nologo -v quiet -clp:ErrorsOnly)
for i in $(seq 1 "$pairs"); do
  echo "==> pair $i: $commit" >&2
  in_trixie dotnet "$base/.build/paged-bench/bin/bento-paged-bench.dll" --work "$repo/.build/decode-bench" "${args[@]}"
  echo "==> pair $i: this checkout" >&2
  in_trixie "${this[@]}"
done
