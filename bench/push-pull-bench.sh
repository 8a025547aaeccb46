#!/usr/bin/env bash
# Benchmark for `bento push` / `bento pull` (issue 11), each against its baseline side by side in the same command:
#   * bento push of a bento with 1 GiB of weights (2 safetensors shards) as a ModelPack artifact to an empty
#     docker-registry 2.8, against `skopeo copy --preserve-digests oci:DIR docker://...` of an OCI layout holding the
#     same blobs (the artifact itself, copied into the layout beforehand, not timed); ROUNDS (default 3) rounds, each
#     contender to an empty registry of its own, order alternating; medians reported
#   * what a second push of the unchanged bento sends, counted by an independent TCP relay (bench/lib/count_proxy.py)
#   * bento pull of it into an empty store, against `skopeo copy --preserve-digests docker://... dir:DIR`, same rounds
#   Before each timed contender: dirty pages written back (sync). The machine is shared: the load average is reported
#   before and after.
# Usage: bench/push-pull-bench.sh [--record]   (--record appends the results to docs/benchmarks.md)
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$repo"
source bench/lib/registry.sh
record=0; [[ "${1:-}" == "--record" ]] && record=1
for tool in skopeo python3 curl; do
  command -v "$tool" >/dev/null || { echo "error: $tool is required (apt-get install skopeo python3 curl)" >&2; exit 1; }
done
bench_workspace push-pull-bench
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
log() { echo "==> $*" >&2; }
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
json() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

log "building the CLI and the model generator; generating a 1 GiB model (2 shards) and its bento"
./bento --version >/dev/null
dotnet build tools/Bento.ModelGen -c Release -o .build/modelgen --nologo -v quiet -clp:ErrorsOnly >&2
dotnet .build/modelgen/bento-modelgen.dll random "$work/model" --hidden 2048 --intermediate 5632 --heads 16 --kv-heads 4 --shards 2 --target-bytes 1GiB >/dev/null
printf 'name: bench-travel\n' > "$work/model/bentofile.yaml"
tag=$(./bento build "$work/model" 2>/dev/null | tail -1)
version=${tag#*:}
weight_bytes=$(cat "$work"/model/*.safetensors | wc -c)

log "writing the artifact's blobs into an OCI layout for skopeo (through a scratch registry; not timed)"
start_registry "$work/registry-scratch"
digest=$(./bento push "$tag" "$registry_host/scratch/art:1" --insecure 2>/dev/null | tail -1)
skopeo copy -q --src-tls-verify=false --preserve-digests "docker://$registry_host/scratch/art:1" "oci:$work/layout:art"
kill "$registry_pid" 2>/dev/null || true

settle() { cat "$work"/model/*.safetensors >/dev/null; sync; }
rounds="${ROUNDS:-3}"
push_ours=(); push_skopeo=(); pull_ours=(); pull_skopeo=(); push_ratios=(); pull_ratios=()
for ((r = 1; r <= rounds; r++)); do
  log "round $r of $rounds: bento push and skopeo copy --preserve-digests of the same blobs, each to an empty registry"
  order=(ours skopeo); ((r % 2 == 0)) && order=(skopeo ours)
  for who in "${order[@]}"; do
    start_registry "$work/registry-$r-$who"
    settle
    if [[ $who == ours ]]; then
      t0=$(now); got=$(./bento push "$tag" "$registry_host/bento/travel:1" --insecure 2>"$work/push-$r.err" | tail -1); t1=$(now)
      [[ "$got" == "$digest" ]] || { cat "$work/push-$r.err" >&2; echo "error: bento push gave $got, not $digest" >&2; exit 1; }
      push_ours+=("$(elapsed "$t0" "$t1")"); ours_host=$registry_host
    else
      t0=$(now); skopeo copy -q --dest-tls-verify=false --preserve-digests --digestfile "$work/skopeo.digest" "oci:$work/layout:art" "docker://$registry_host/skopeo/travel:1"; t1=$(now)
      [[ "$(cat "$work/skopeo.digest")" == "$digest" ]] || { echo "error: skopeo pushed $(cat "$work/skopeo.digest"), not $digest" >&2; exit 1; }
      push_skopeo+=("$(elapsed "$t0" "$t1")"); skopeo_host=$registry_host
    fi
  done
  push_ratios+=("$(ratio "${push_ours[-1]}" "${push_skopeo[-1]}")")

  log "round $r of $rounds: bento pull into an empty store and skopeo copy --preserve-digests to a directory"
  for who in "${order[@]}"; do
    sync
    if [[ $who == ours ]]; then
      rm -rf "$work/pulled-home"
      t0=$(now); got=$(BENTO_HOME="$work/pulled-home" ./bento pull "$ours_host/bento/travel:1" --insecure 2>"$work/pull-$r.err" | tail -1); t1=$(now)
      [[ "$got" == "$tag" ]] || { cat "$work/pull-$r.err" >&2; echo "error: bento pull gave $got, not $tag" >&2; exit 1; }
      pull_ours+=("$(elapsed "$t0" "$t1")")
    else
      rm -rf "$work/pulled-dir"
      t0=$(now); skopeo copy -q --src-tls-verify=false --preserve-digests "docker://$skopeo_host/skopeo/travel:1" "dir:$work/pulled-dir"; t1=$(now)
      pull_skopeo+=("$(elapsed "$t0" "$t1")")
    fi
  done
  pull_ratios+=("$(ratio "${pull_ours[-1]}" "${pull_skopeo[-1]}")")
  for pid in "${registry_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  registry_pids=()
done
BENTO_HOME="$work/pulled-home" ./bento verify >/dev/null || { echo "error: the pulled bento does not verify" >&2; exit 1; }

log "pushing the unchanged bento again, through the counting relay"
start_registry "$work/registry-relay"
proxy_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
python3 bench/lib/count_proxy.py "$proxy_port" "$registry_host" "$work/proxy.json" &
proxy_pid=$!
for _ in $(seq 100); do [[ -s "$work/proxy.json" ]] && break; sleep 0.1; done
proxy_counts() { kill -USR1 "$proxy_pid"; sleep 0.3; cat "$work/proxy.json"; }
./bento push "$tag" "127.0.0.1:$proxy_port/bento/travel:1" --insecure >/dev/null 2>&1
c0=$(proxy_counts)
t0=$(now); ./bento push "$tag" "127.0.0.1:$proxy_port/bento/travel:1" --insecure >/dev/null 2>"$work/again.err"; t1=$(now)
c1=$(proxy_counts)
again_bytes=$(( $(json "$c1" bytes_up) - $(json "$c0" bytes_up) ))
again_requests=$(( $(json "$c1" requests) - $(json "$c0" requests) ))
again_s=$(elapsed "$t0" "$t1")
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

fmt_rounds() { local -n a=$1 b=$2 c=$3; for ((i = 0; i < rounds; i++)); do printf '%s / %s (%sx); ' "${a[$i]}" "${b[$i]}" "${c[$i]}"; done; }
push_med=$(printf '%s\n' "${push_ours[@]}" | median); push_sk_med=$(printf '%s\n' "${push_skopeo[@]}" | median)
pull_med=$(printf '%s\n' "${pull_ours[@]}" | median); pull_sk_med=$(printf '%s\n' "${pull_skopeo[@]}" | median)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
result=$(cat <<EOF
### bento push / bento pull ($(date -u +%Y-%m-%d), $cpu, $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM; load average before: $load_before, after: $load_after)

\`bench/push-pull-bench.sh\`: a bento with $(awk -v b="$weight_bytes" 'BEGIN { printf "%.1f", b / 1048576 }') MiB of weights (2 shards) as a ModelPack artifact ($digest),
docker-registry 2.8 on 127.0.0.1, skopeo $(skopeo --version | awk '{ print $3 }'); medians of $rounds rounds, each contender to an empty registry of its own, order alternating.

| measurement | BentoBuilder | baseline | ratio (target) |
|---|---:|---:|---:|
| push to an empty registry | \`bento push\` $push_med s | \`skopeo copy --preserve-digests oci:LAYOUT docker://\` (same blobs) $push_sk_med s | **$(ratio "$push_med" "$push_sk_med")x** (<= 1.0x) |
| pull into an empty store / directory | \`bento pull\` $pull_med s (every blob verified, bento committed) | \`skopeo copy --preserve-digests docker:// dir:DIR\` $pull_sk_med s | **$(ratio "$pull_med" "$pull_sk_med")x** (<= 1.2x) |
| unchanged bento pushed again (counting relay) | $again_bytes bytes ($(awk -v b="$again_bytes" 'BEGIN { printf "%.1f", b / 1024 }') KiB) in $again_requests requests, $again_s s | | (< 100 KiB) |

Push rounds (ours / skopeo, seconds): $(fmt_rounds push_ours push_skopeo push_ratios)
Pull rounds (ours / skopeo, seconds): $(fmt_rounds pull_ours pull_skopeo pull_ratios)
EOF
)
echo "$result"
if ((record)); then printf '\n%s\n' "$result" >> docs/benchmarks.md; fi
