# Sourced by the containerize benchmarks (run from the repository root): timing helpers, the CLI and the model
# generator built, and the Debian 13 base image layout ($base, built once into the machine cache) ready.
cache="${BENTO_TEST_CACHE:-/var/cache/bentobuilder}"
base="$cache/base-image-trixie-v1"
export BENTO_RUNTIME_CACHE="${BENTO_RUNTIME_CACHE:-$PWD/.build/bench-runtime-cache}"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
log() { echo "==> $*" >&2; }

# Generates a Llama of the benchmarks' shape in two safetensors shards: gen_model DIR SIZE (e.g. 1GiB).
gen_model() {
  dotnet .build/modelgen/bento-modelgen.dll random "$1" --hidden 2048 --intermediate 5632 --heads 16 --kv-heads 4 --shards 2 --target-bytes "$2" >/dev/null
}

log "building the CLI and the model generator"
./bento --version >/dev/null
dotnet build tools/Bento.ModelGen -c Release -o .build/modelgen --nologo -v quiet -clp:ErrorsOnly >&2
if [[ ! -f "$base/index.json" ]]; then
  log "building the Debian 13 base image (once)"
  mkdir -p "$cache"
  scripts/make-base-image "$base"
fi
