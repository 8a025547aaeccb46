#!/usr/bin/env bash
# Benchmark for `bento containerize --push` (issue 4), with its baseline run side by side in the same command:
#   * containerize + push of a bento with 1 GiB of weights (2 safetensors shards) to a local docker-registry 2.8,
#       new bento  = its weights hashed for the first time (the runtime layers are cached, as for every bento after
#                    the first on a machine), uploaded to a new repository
#       same again = layer digests from the cache, uploaded to an empty registry; ROUNDS (default 3) rounds, each
#                    against `skopeo copy --preserve-digests oci:DIR docker://...` of the same image (same bytes, same
#                    digest: the like-for-like baseline; the layout is written by containerize, not timed) to an empty
#                    registry of its own, order alternating; medians reported
#     and skopeo's default copy (which gzips the uncompressed weight layers) to an empty registry.
#   Before each timed contender: weights in the page cache, dirty pages written back (sync).
#   * what a second push of the unchanged image sends, and what a push after a bentofile-only change sends, counted by
#     an independent TCP relay in front of the registry (bench/lib/count_proxy.py: bytes and HTTP requests)
#   * layer digests cached: the "hashed" figure of the second containerize
#   * peak RSS (/usr/bin/time) of containerize --push for 256 MiB and 1 GiB of weights (memory flat with weight size)
# The base image is the tests' Debian 13 image (scripts/make-base-image; built once),
# pushed to the registry first so containerize pulls it from there like a user's base.
# Usage: bench/containerize-push-bench.sh [--record]   (--record appends the results to docs/benchmarks.md)
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$repo"
source bench/lib/registry.sh
record=0; [[ "${1:-}" == "--record" ]] && record=1
for tool in skopeo python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "error: $tool is required (apt-get install skopeo python3 time)" >&2; exit 1; }
done
bench_workspace containerize-push-bench
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
# shellcheck source=lib/containerize.sh
source bench/lib/containerize.sh

log "generating 1 GiB and 256 MiB models (2 shards each) and building their bentos"
gen_model "$work/big" 1GiB
gen_model "$work/small" 256MiB
printf 'name: bench-push\n' > "$work/big/bentofile.yaml"
printf 'name: bench-push-small\n' > "$work/small/bentofile.yaml"
weight_bytes=$(cat "$work"/big/*.safetensors | wc -c)
big_tag=$(./bento build "$work/big" 2>/dev/null | tail -1)
small_tag=$(./bento build "$work/small" 2>/dev/null | tail -1)
example_tag=$(./bento build examples/tiny-llama 2>/dev/null | tail -1)

log "starting docker-registry and the counting relay"
start_registry "$work/registry"
host="$registry_host"
proxy_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
proxy="127.0.0.1:$proxy_port"
python3 bench/lib/count_proxy.py "$proxy_port" "$host" "$work/proxy.json" &
proxy_pid=$!
for _ in $(seq 100); do [[ -s "$work/proxy.json" ]] && break; sleep 0.1; done
proxy_counts() { kill -USR1 "$proxy_pid"; sleep 0.3; cat "$work/proxy.json"; }
json() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

log "pushing the base image to the registry, and warming up (runtime published, runtime layers computed; not timed)"
skopeo copy -q --dest-tls-verify=false "oci:$base:trixie" "docker://$host/base:trixie"
from=(--base-image "$host/base:trixie" --insecure)
./bento containerize "$example_tag" "${from[@]}" --output "oci:$work/warmup" >/dev/null 2>"$work/warmup.err" || { cat "$work/warmup.err" >&2; exit 1; }
rm -rf "$work/warmup"

# Every timed contender starts alike: the weights in the page cache and no dirty pages of an earlier push still
# being written back (the registry writes each pushed byte to disk).
settle() { cat "$work"/big/*.safetensors "$work"/small/*.safetensors "$@" >/dev/null; sync; }
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# Runs containerize under /usr/bin/time; sets run_seconds, run_rss_kib, run_digest, run_err (stderr file).
run() {
  local name="$1"; shift
  run_err="$work/$name.err"
  settle
  /usr/bin/time -o "$work/$name.time" -f "%e %M" ./bento containerize "$@" >"$work/$name.out" 2>"$run_err" || { cat "$run_err" >&2; exit 1; }
  read -r run_seconds run_rss_kib <"$work/$name.time"
  run_digest=$(tail -1 "$work/$name.out")
}
hashed() { sed -nE 's/.*from cache, (.*) hashed\).*/\1/p' "$1" | tail -1; }
# skopeo copy of the layout to DESTINATION, timed into skopeo_seconds: skopeo_push DESTINATION [SKOPEO FLAGS...]
skopeo_push() {
  local t0 t1 destination="$1"; shift
  settle "$work"/layout/blobs/sha256/*
  t0=$(now); skopeo copy -q --dest-tls-verify=false "$@" "oci:$work/layout:img" "$destination"; t1=$(now)
  skopeo_seconds=$(elapsed "$t0" "$t1")
}

log "bento containerize --push of the new bento (weights hashed for the first time)"
run new "$big_tag" "${from[@]}" --push -t "$host/bento/new:1"
new_s=$run_seconds; new_rss=$run_rss_kib; digest=$run_digest; new_hashed=$(hashed "$run_err")
log "writing the same image as an OCI layout for skopeo (not timed)"
./bento containerize "$big_tag" "${from[@]}" --output "oci:$work/layout:img" >/dev/null 2>&1

# Rounds: each pushes to its own empty registry (skopeo remembers where it pushed blobs and would mount them from
# an earlier round's repository instead of uploading), alternating who goes first.
rounds="${ROUNDS:-3}"
again_times=(); skopeo_times=(); round_ratios=()
for ((r = 1; r <= rounds; r++)); do
  log "round $r of $rounds: containerize --push of the same bento again, and skopeo copy --preserve-digests, to an empty registry"
  start_registry "$work/registry-round-$r"
  order=(ours skopeo); ((r % 2 == 0)) && order=(skopeo ours)
  for who in "${order[@]}"; do
    if [[ $who == ours ]]; then
      run "again-$r" "$big_tag" "${from[@]}" --push -t "$registry_host/bento/again:1"
      [[ "$run_digest" == "$digest" ]] || { echo "error: containerize gave another digest in round $r" >&2; exit 1; }
      again_s=$run_seconds; again_hashed=$(hashed "$run_err")
    else
      skopeo_push "docker://$registry_host/skopeo/same:1" --preserve-digests --digestfile "$work/skopeo.digest"
      [[ "$(cat "$work/skopeo.digest")" == "$digest" ]] || { echo "error: skopeo --preserve-digests pushed $(cat "$work/skopeo.digest"), not $digest" >&2; exit 1; }
      same_s=$skopeo_seconds
    fi
  done
  again_times+=("$again_s"); skopeo_times+=("$same_s"); round_ratios+=("$(ratio "$again_s" "$same_s")")
  kill "$registry_pid" 2>/dev/null || true
done
again_s=$(printf '%s\n' "${again_times[@]}" | median)
skopeo_same_s=$(printf '%s\n' "${skopeo_times[@]}" | median)
log "skopeo copy with its defaults (gzips the weight layers) to an empty registry"
start_registry "$work/registry-gzip"
skopeo_push "docker://$registry_host/skopeo/gzip:1"
skopeo_gzip_s=$skopeo_seconds
kill "$registry_pid" 2>/dev/null || true
rm -rf "$work/layout"

log "pushing the unchanged image again, through the counting relay"
c0=$(proxy_counts)
run unchanged "$big_tag" "${from[@]}" --push -t "$proxy/bento/new:1"
c1=$(proxy_counts)
unchanged_bytes=$(( $(json "$c1" bytes_up) - $(json "$c0" bytes_up) ))
unchanged_requests=$(( $(json "$c1" requests) - $(json "$c0" requests) ))
unchanged_s=$run_seconds

log "a bentofile-only change (a description), rebuilt and pushed through the counting relay"
printf 'name: bench-push\ndescription: the same weights with a new description\n' > "$work/big/bentofile.yaml"
big2_tag=$(./bento build "$work/big" 2>/dev/null | tail -1)
[[ "$big2_tag" != "$big_tag" ]] || { echo "error: the edited bentofile gave the same version" >&2; exit 1; }
run changed "$big2_tag" "${from[@]}" --push -t "$proxy/bento/new:2"
c2=$(proxy_counts)
changed_bytes=$(( $(json "$c2" bytes_up) - $(json "$c1" bytes_up) ))
changed_requests=$(( $(json "$c2" requests) - $(json "$c1" requests) ))
changed_summary=$(grep -E '^pushed ' "$run_err" | tail -1 | sed -E 's/^pushed [^:]+:[^:]+: ?//; s/^[^)]*\): //')
unframed=$(json "$c2" unframed)

log "peak memory: 256 MiB of weights"
run small "$small_tag" "${from[@]}" --push -t "$host/bento/small:1"
small_rss=$run_rss_kib

rounds_text=$(for ((i = 0; i < rounds; i++)); do printf '%s / %s (%sx); ' "${again_times[$i]}" "${skopeo_times[$i]}" "${round_ratios[$i]}"; done)
rounds_text="${rounds_text%; }"
unframed_note=""
if ((unframed > 0)); then unframed_note=" (the relay saw $unframed chunked request bodies it could not frame; their requests are undercounted)"; fi
result=$(cat <<EOF
### bento containerize --push ($(date -u +%Y-%m-%d), $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg))

\`bench/containerize-push-bench.sh\`: a bento with $(mib "$weight_bytes") MiB of weights (2 shards) on the Debian 13 test base,
pushed to docker-registry 2.8 on 127.0.0.1; baseline \`skopeo copy oci:DIR docker://...\` of the same image, same run.

| case | seconds | vs skopeo copy --preserve-digests, median ($skopeo_same_s s) | vs skopeo copy default, gzips ($skopeo_gzip_s s) |
|---|---:|---:|---:|
| containerize + push, new bento (weights hashed: $new_hashed; base layers mounted) | $new_s | $(ratio "$new_s" "$skopeo_same_s")x | $(ratio "$new_s" "$skopeo_gzip_s")x |
| containerize + push, same bento again, median of $rounds rounds (hashed: $again_hashed) | $again_s | $(ratio "$again_s" "$skopeo_same_s")x | $(ratio "$again_s" "$skopeo_gzip_s")x |

Rounds (ours / skopeo --preserve-digests, seconds, each round to an empty registry, order alternating): $rounds_text

| push measured by the counting relay | bytes sent | HTTP requests | seconds |
|---|---:|---:|---:|
| unchanged image, pushed again | $unchanged_bytes ($(awk -v b="$unchanged_bytes" 'BEGIN { printf "%.1f", b / 1024 }') KiB) | $unchanged_requests | $unchanged_s |
| after a bentofile-only change ($changed_summary) | $changed_bytes ($(awk -v b="$changed_bytes" 'BEGIN { printf "%.1f", b / 1024 }') KiB) | $changed_requests | |

Peak RSS of containerize --push: $((small_rss / 1024)) MiB for 256 MiB of weights, $((new_rss / 1024)) MiB for 1 GiB ($(ratio "$new_rss" "$small_rss")x for 4x the weights).
Digests: containerize and skopeo --preserve-digests both pushed $digest.$unframed_note
EOF
)
echo "$result"
if ((record)); then printf '\n%s\n' "$result" >> docs/benchmarks.md; fi
