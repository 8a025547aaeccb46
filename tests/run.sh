#!/usr/bin/env bash
# The one command that runs every test on a fresh Debian/Ubuntu machine with the .NET 10 SDK.
# It installs what the tests need (apt packages, NuGet restore), builds everything, runs each test project and
# prints one closing line "N passed, N failed, N skipped".
#   tests/run.sh          all tests, slow end-to-end ones included (what .ci/run does)
#   tests/run.sh --fast   skip tests marked [Trait("Category", "Slow")]
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$repo"

filter=()
if [[ "${1:-}" == "--fast" ]]; then filter=(--filter "Category!=Slow"); fi

log() { echo "==> $*" >&2; }

# --- system packages -------------------------------------------------------------------------------------------
# util-linux: flock/runuser/mount (store locking and permission tests); openssl: hashing baseline; time: max RSS;
# debootstrap: the Debian 13 rootfs (TorchSharp) and test base images; docker-registry, skopeo, umoci, apache2-utils
# (htpasswd), docker.io (a dockerd the image tests start themselves): real parts for the image and registry tests.
# podman + catatonit (podman kube play of generated Deployments), docker-compose (generated compose files).
packages=(util-linux openssl time debootstrap docker-registry skopeo umoci apache2-utils docker.io podman catatonit docker-compose)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  sudo_cmd=(); [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v dotnet >/dev/null 2>&1; then
  echo "error: the .NET 10 SDK is required (dotnet not on PATH)" >&2
  exit 1
fi

# --- build ------------------------------------------------------------------------------------------------------
log "restoring and building (Release)"
dotnet build BentoBuilder.sln -c Release --nologo -v quiet -clp:ErrorsOnly
# The end-to-end tests drive ./bento; make sure its own build is current so no test pays for it.
./bento --version >/dev/null
./bento serve --help >/dev/null   # builds the runtime program `bento serve` starts

# --- test -------------------------------------------------------------------------------------------------------
# TorchSharp (runtime tests) needs libstdc++ from GCC 13+; on older hosts those tests run inside a cached Debian 13
# rootfs (scripts/trixie creates it on first use, mounts, runs and cleans up).
# The rootfs is cached outside the checkout so fresh clones (CI) on the same machine reuse it.
export BENTO_TRIXIE_ROOT="${BENTO_TRIXIE_ROOT:-/var/cache/bentobuilder/trixie-rootfs}"
native_torch=0
for lib in /usr/lib/x86_64-linux-gnu/libstdc++.so.6 /usr/lib64/libstdc++.so.6 /usr/lib/libstdc++.so.6; do
  [[ -e "$lib" ]] && grep -aq GLIBCXX_3.4.32 "$lib" && native_torch=1 && break
done
needs_torch() { grep -q 'Bento.Runtime' "$1"; }

passed=0; failed=0; skipped=0; status=0
results="$repo/.build/test-results"
rm -rf "$results"; mkdir -p "$results"
for project in tests/*/*.Tests.csproj; do
  name="$(basename "$project" .csproj)"
  log "testing $name"
  set +e
  runner=()
  if needs_torch "$project" && ((native_torch == 0)); then
    log "$name needs GLIBCXX_3.4.32 (TorchSharp): running it inside the Debian 13 rootfs"
    runner=(scripts/trixie run --)
  fi
  "${runner[@]}" dotnet test "$project" -c Release --no-build --nologo "${filter[@]}" \
    --logger "trx;LogFileName=$name.trx" --results-directory "$results" 2>&1 | tee "$results/$name.log"
  rc=${PIPESTATUS[0]}
  set -e
  # "Passed!  - Failed:     0, Passed:    42, Skipped:     0, Total:    42, Duration: ..."
  summary="$(grep -E '(Passed|Failed)! +- Failed:' "$results/$name.log" | tail -1 || true)"
  if [[ -n "$summary" ]]; then
    f=$(sed -E 's/.*Failed: *([0-9]+).*/\1/' <<<"$summary")
    p=$(sed -E 's/.*Passed: *([0-9]+).*/\1/' <<<"$summary")
    s=$(sed -E 's/.*Skipped: *([0-9]+).*/\1/' <<<"$summary")
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  elif [[ $rc -ne 0 ]]; then
    failed=$((failed + 1))
  fi
  [[ $rc -ne 0 ]] && status=1
done

echo "$passed passed, $failed failed, $skipped skipped"
if ((passed == 0)); then echo "error: no test ran" >&2; exit 1; fi
exit $status
