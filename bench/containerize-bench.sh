#!/usr/bin/env bash
# Benchmark for `bento containerize`, with baselines measured in the same run:
#   * the bundled example and a generated 1 GiB Llama (2 safetensors shards) to an OCI layout:
#       cold  = fresh store (every layer computed: LibTorch gzip, weights hashed), runtime already published
#       warm  = same store again (layer cache: nothing hashed or compressed; the layout is rewritten from scratch)
#   * the 1 GiB model to a docker-archive (warm)
#   * baselines: `sha256sum` of the weight files (hashing, the floor for a cold run), `cp` of them into a fresh
#     directory (writing, the floor for a warm run), and `skopeo copy` of the finished layout to another layout
# The base image is the tests' Debian 13 layout (scripts/make-base-image; built once).
# The runtime is published once into $BENTO_RUNTIME_CACHE (default .build/bench-runtime-cache; first run ~1 min),
# or pass a published one with RUNTIME=DIR.
# Usage: bench/containerize-bench.sh [--record]   (--record appends the results to docs/benchmarks.md)
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$repo"
record=0; [[ "${1:-}" == "--record" ]] && record=1
work="$repo/.build/containerize-bench"
rm -rf "$work"; mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
runtime_args=(); [[ -n "${RUNTIME:-}" ]] && runtime_args=(--runtime "$RUNTIME")
# shellcheck source=lib/containerize.sh
source bench/lib/containerize.sh

log "generating a 1 GiB model (2 shards)"
gen_model "$work/big" 1GiB
printf 'name: bench-big\n' > "$work/big/bentofile.yaml"
export BENTO_HOME="$work/home"
example_tag=$(./bento build examples/tiny-llama 2>/dev/null | tail -1)
big_tag=$(./bento build "$work/big" 2>/dev/null | tail -1)

log "publishing the runtime if needed (not timed)"
./bento containerize "$example_tag" --base-image "oci:$base:trixie" "${runtime_args[@]}" --output "oci:$work/warmup" >/dev/null 2>&1
rm -rf "$work/warmup" "$BENTO_HOME/cache/layers"

run() { # name, then containerize arguments; prints seconds
  local t0 t1
  t0=$(now)
  ./bento containerize "$@" --base-image "oci:$base:trixie" "${runtime_args[@]}" >"$work/last.out" 2>"$work/last.err" || { cat "$work/last.err" >&2; exit 1; }
  t1=$(now)
  elapsed "$t0" "$t1"
}

cat "$work"/big/*.safetensors >/dev/null  # warm page cache for every contender
example_cold=$(run "$example_tag" --output "oci:$work/ex1")
example_warm=$(run "$example_tag" --output "oci:$work/ex2")
rm -rf "$BENTO_HOME/cache/layers/entries"/*  # forget weights and runtime layers: the 1 GiB cold run computes everything
big_cold=$(run "$big_tag" --output "oci:$work/big1")
big_digest=$(tail -1 "$work/last.out")
big_warm=$(run "$big_tag" --output "oci:$work/big2")
[[ "$(tail -1 "$work/last.out")" == "$big_digest" ]] || { echo "error: the warm run gave another digest" >&2; exit 1; }
big_archive=$(run "$big_tag" --output "docker-archive:$work/big.tar")
# skopeo copying the finished layout (verifies and writes the same blobs): a baseline for writing a layout.
t0=$(now); skopeo copy -q "oci:$work/big1:${big_tag#*:}" "oci:$work/big3:x" >/dev/null; t1=$(now); skopeo_base=$(elapsed "$t0" "$t1")
rm -rf "$work/big1" "$work/big2" "$work/big3" "$work/big.tar"

t0=$(now); sha256sum "$work"/big/*.safetensors >/dev/null; t1=$(now); sha_base=$(elapsed "$t0" "$t1")
mkdir -p "$work/cp"; t0=$(now); cp "$work"/big/*.safetensors "$work/cp/"; sync -f "$work/cp"; t1=$(now); cp_base=$(elapsed "$t0" "$t1")

result=$(cat <<EOF
### bento containerize ($(date -u +%Y-%m-%d), $(nproc) cores)

| case | seconds | baseline |
|---|---|---|
| example, cold (LibTorch layer gzip + all digests) | $example_cold | |
| example, warm (layer cache) | $example_warm | |
| 1 GiB model, cold | $big_cold | sha256sum of the weights: $sha_base |
| 1 GiB model, warm, OCI layout | $big_warm | cp of the weights: $cp_base; skopeo copy of the finished layout: $skopeo_base |
| 1 GiB model, warm, docker-archive | $big_archive | cp of the weights: $cp_base |
EOF
)
echo "$result"
if ((record)); then printf '\n%s\n' "$result" >> docs/benchmarks.md; fi
