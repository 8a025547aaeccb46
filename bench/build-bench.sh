#!/usr/bin/env bash
# Benchmark for `bento build` (issue 2), run side by side with its baseline in one command:
#   * build of a generated 1 GiB Llama in two safetensors shards vs `openssl dgst -sha256` over the same files,
#     process start-up included, fresh store (no hash cache) each run; median of RUNS (default 3)
#   * extra disk used by the store (hard links: should be a few KiB)
#   * rebuild after editing only bentofile.yaml (must re-hash no weight, under 1 s)
#   * peak RSS of build for a 256 MiB and a 1 GiB model (flat memory)
# Usage: bench/build-bench.sh [--record]   (--record appends the results to docs/benchmarks.md)
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$repo"
runs="${RUNS:-3}"
record=0; [[ "${1:-}" == "--record" ]] && record=1
work="$repo/.build/bench"   # inside the checkout's file system, like a user's model folder next to ~/.bento
rm -rf "$work"; mkdir -p "$work"
trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

echo "==> building the CLI and the model generator" >&2
./bento --version >/dev/null
dotnet build tools/Bento.ModelGen -c Release -o .build/modelgen --nologo -v quiet -clp:ErrorsOnly
gen() { dotnet .build/modelgen/bento-modelgen.dll random "$@" >/dev/null; }

echo "==> generating 1 GiB (2 shards) and 256 MiB models" >&2
gen "$work/big" --hidden 2048 --intermediate 5632 --heads 16 --kv-heads 4 --shards 2 --target-bytes 1GiB
gen "$work/small" --hidden 2048 --intermediate 5632 --heads 16 --kv-heads 4 --shards 2 --target-bytes 256MiB
printf 'name: bench\n' > "$work/big/bentofile.yaml"
printf 'name: bench-small\n' > "$work/small/bentofile.yaml"
shards=("$work"/big/*.safetensors)
weight_bytes=$(cat "${shards[@]}" | wc -c)
cat "$work"/big/* "$work"/small/* >/dev/null   # same warm page cache for both contenders

openssl_times=(); build_times=()
for ((i = 1; i <= runs; i++)); do
  t0=$(now); openssl dgst -sha256 "${shards[@]}" >/dev/null; t1=$(now)
  openssl_times+=("$(elapsed "$t0" "$t1")")
  rm -rf "$work/home"
  t0=$(now); BENTO_HOME="$work/home" ./bento build "$work/big" >/dev/null 2>"$work/build.err"; t1=$(now)
  build_times+=("$(elapsed "$t0" "$t1")")
  echo "    run $i: openssl ${openssl_times[-1]} s, bento build ${build_times[-1]} s" >&2
done
openssl_median=$(printf '%s\n' "${openssl_times[@]}" | median)
build_median=$(printf '%s\n' "${build_times[@]}" | median)
ratio=$(awk -v b="$build_median" -v o="$openssl_median" 'BEGIN { printf "%.2f", b / o }')

# Extra disk: du counts each inode once across its arguments, so the store adds only what is not a hard link.
model_kib=$(du -sk "$work/big" | cut -f1)
both_kib=$(du -skc "$work/big" "$work/home" | tail -1 | cut -f1)
extra_kib=$((both_kib - model_kib))

# Config-only rebuild.
printf 'name: bench\ndescription: edited\n' > "$work/big/bentofile.yaml"
t0=$(now); BENTO_HOME="$work/home" ./bento build "$work/big" >/dev/null 2>"$work/rebuild.err"; t1=$(now)
rebuild=$(elapsed "$t0" "$t1")
rehashed=$(grep -oE '[0-9]+ hashed' "$work/rebuild.err" | cut -d' ' -f1)

# Peak memory for two model sizes (fresh stores, no cache).
rss() { rm -rf "$work/rss-home"; BENTO_HOME="$work/rss-home" /usr/bin/time -f '%M' ./bento build "$1" 2>&1 >/dev/null | tail -1; }
rss_small=$(rss "$work/small")
rss_big=$(rss "$work/big")

cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
machine="$cpu, $(nproc) cores, $(free -g | awk '/Mem:/ { print $2 }') GiB RAM, $(. /etc/os-release; echo "$PRETTY_NAME")"
report=$(cat <<MD

### bento build — $(date -u +%Y-%m-%d) — $machine
Command: \`bench/build-bench.sh\` (median of $runs runs, process start-up included, fresh store per run).

| measurement | baseline | BentoBuilder | ratio / result |
|---|---|---|---|
| hash + store $((weight_bytes / 1048576)) MiB in 2 shards | \`openssl dgst -sha256\` ${openssl_median} s | \`bento build\` ${build_median} s | **${ratio}x** (target ≤ 1.3x) |
| extra disk used by the store | — | ${extra_kib} KiB | target < 1024 KiB |
| rebuild after editing only bentofile.yaml | — | ${rebuild} s, ${rehashed} files re-hashed | target < 1 s, 0 re-hashed |
| peak RSS of build, 256 MiB vs 1 GiB model | — | ${rss_small} KiB vs ${rss_big} KiB | flat: memory does not grow with weight size |
MD
)
echo "$report"
if ((record)); then
  echo "$report" >> docs/benchmarks.md
  echo "==> appended to docs/benchmarks.md" >&2
fi
