#!/usr/bin/env bash
# Runs bench/decode-bench.sh of this checkout and of another revision (default: main) in alternating processes on
# the same generated model, so a runtime change is compared with the code it replaces under the same machine load
# (each process also runs llama.cpp, the fixed reference). The other revision is exported with git archive into
# .build/baseline-REV (nothing in the repository changes) and built once.
# Usage: bench/decode-bench-vs.sh [REV] [--pairs 3] [decode-bench options, e.g. --rounds 2]
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$repo"
rev=main
if [[ $# -gt 0 && $1 != --* ]]; then rev=$1; shift; fi
pairs=3
if [[ ${1:-} == --pairs ]]; then pairs=$2; shift 2; fi
commit=$(git rev-parse --short=7 "$rev^{commit}")
base=".build/baseline-$commit"
if [[ ! -f $base/.build/decode-bench/bin/bento-decode-bench.dll ]]; then
  echo "==> exporting $rev ($commit) to $base and building its decode benchmark" >&2
  rm -rf "$base" && mkdir -p "$base"
  git archive "$commit" | tar -x -C "$base"
  (cd "$base" && dotnet build bench/Bento.DecodeBench -c Release -o .build/decode-bench/bin --nologo -v quiet -clp:ErrorsOnly)
fi
echo "==> building this checkout's decode benchmark" >&2
dotnet build bench/Bento.DecodeBench -c Release -o .build/decode-bench/bin --nologo -v quiet -clp:ErrorsOnly
work="$repo/.build/decode-bench"
for i in $(seq 1 "$pairs"); do
  for who in this "$commit"; do
    dll=".build/decode-bench/bin/bento-decode-bench.dll"
    [[ $who == this ]] || dll="$base/$dll"
    echo "==> pair $i: $who" >&2
    cmd=(dotnet "$dll" --work "$work" "$@")
    if [[ ${BENTO_IN_TRIXIE:-} != 1 ]] && scripts/trixie needed; then scripts/trixie run "${cmd[@]}"; else "${cmd[@]}"; fi | sed "s/^/[$who] /"
  done
done
