#!/usr/bin/env bash
# Push benchmark, independent of `bento containerize`: an OCI layout with WEIGHT_MIB (default 1024) of random,
# uncompressed weight layers is pushed to a local docker-registry (distribution 2.8) by Bento.Images' RegistryClient
# (chunked and monolithic) and by `skopeo copy`, then pushed again unchanged. skopeo 1.9 gzips uncompressed layers on
# push (it cannot be told not to), so its time includes compression and its upload is the gzip output; ours sends the
# layers as they are. Needs: docker-registry, skopeo (apt), the .NET 10 SDK.
#   bench/push-bench.sh [WEIGHT_MIB] [LAYERS]
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$repo"
weight_mib="${1:-1024}"
layers="${2:-4}"

for tool in skopeo dotnet python3; do
  command -v "$tool" >/dev/null || { echo "error: $tool is required (apt-get install docker-registry skopeo)" >&2; exit 1; }
done

work="$(mktemp -d /tmp/bento-push-bench.XXXXXX)"
registry_pid=""
cleanup() {
  [[ -n "$registry_pid" ]] && kill "$registry_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=lib/registry.sh
source bench/lib/registry.sh
start_registry "$work/registry"
host="$registry_host"

echo "==> building the driver" >&2
dotnet build bench/push-bench.cs -v q -clp:ErrorsOnly >/dev/null
bench=(dotnet run --no-build bench/push-bench.cs --)

echo "==> writing the OCI layout ($weight_mib MiB of weights in $layers layers)" >&2
"${bench[@]}" layout "$work/layout" "$weight_mib" "$layers" >&2
layout_bytes=$(du -sb "$work/layout/blobs" | cut -f1)

field() { sed -E "s/.*$1=([^ ]+).*/\1/" <<<"$2"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
rate() { awk -v b="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f", b / 1048576 / s; else print "-" }'; }

echo "==> bento: chunked (auto) push, then the same again" >&2
auto1="$("${bench[@]}" push "$work/layout" "$host/bento/auto:1" auto)"
auto2="$("${bench[@]}" push "$work/layout" "$host/bento/auto:1" auto)"
echo "==> bento: monolithic push to a new repository (fresh uploads: mounting is only tried from known sources)" >&2
mono1="$("${bench[@]}" push "$work/layout" "$host/bento/mono:1" monolithic)"

echo "==> skopeo copy oci: -> docker:// (gzips the uncompressed layers), then the same again" >&2
start=$(date +%s.%N)
skopeo copy -q --dest-tls-verify=false "oci:$work/layout:bench" "docker://$host/skopeo/app:1"
skopeo1=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
start=$(date +%s.%N)
skopeo copy -q --dest-tls-verify=false "oci:$work/layout:bench" "docker://$host/skopeo/app:1"
skopeo2=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
skopeo_bytes=$(skopeo inspect --raw --tls-verify=false "docker://$host/skopeo/app:1" \
  | python3 -c 'import json,sys; m=json.load(sys.stdin); print(m["config"]["size"] + sum(l["size"] for l in m["layers"]))')

echo
echo "Push of $(mib "$layout_bytes") MiB (config + 1 gzip layer + $layers uncompressed weight layers) to docker-registry 2.8 on $host"
printf '%-34s %10s %14s %10s %9s\n' "run" "seconds" "bytes sent" "MiB/s" "requests"
for row in "bento chunked (first)|$auto1" "bento chunked (unchanged, again)|$auto2" "bento monolithic (first)|$mono1"; do
  name="${row%%|*}"; line="${row#*|}"
  s=$(field seconds "$line"); b=$(field bytes_sent "$line")
  printf '%-34s %10s %14s %10s %9s\n' "$name" "$s" "$b" "$(rate "$b" "$s")" "$(field requests "$line")"
done
printf '%-34s %10s %14s %10s %9s\n' "skopeo copy (first, gzips)" "$skopeo1" "$skopeo_bytes" "$(rate "$layout_bytes" "$skopeo1")" "-"
printf '%-34s %10s %14s %10s %9s\n' "skopeo copy (unchanged, again)" "$skopeo2" "-" "-" "-"
echo "(bento times exclude process start; skopeo's include it and gzip; skopeo's bytes are the sizes of the blobs it stored.)"
