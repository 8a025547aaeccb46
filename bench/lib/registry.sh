# Sourced by the benchmarks: starts Debian's docker-registry (distribution 2.8) on a free 127.0.0.1 port with its
# storage under DIR and sets registry_host / registry_pid (and adds the pid to registry_pids). The caller kills them
# on exit.
#   start_registry DIR
start_registry() {
  local dir="$1" port
  command -v docker-registry >/dev/null || { echo "error: docker-registry is required (apt-get install docker-registry)" >&2; exit 1; }
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  registry_host="127.0.0.1:$port"
  mkdir -p "$dir"
  cat >"$dir/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: $registry_host
YAML
  docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
  registry_pid=$!
  registry_pids+=("$registry_pid")
  for _ in $(seq 100); do curl -fs "http://$registry_host/v2/" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "error: docker-registry did not start; its log:" >&2; cat "$dir/registry.log" >&2; exit 1
}

# The work folder .build/NAME of a registry benchmark: emptied now, removed on exit together with the registries and
# the counting proxy the benchmark started (registry_pids, proxy_pid). Sets work and BENTO_HOME; builds ignore
# SOURCE_DATE_EPOCH.
#   bench_workspace NAME
bench_workspace() {
  work="$repo/.build/$1"
  rm -rf "$work"; mkdir -p "$work"
  registry_pids=(); proxy_pid=""
  trap bench_cleanup EXIT
  export BENTO_HOME="$work/home"
  unset SOURCE_DATE_EPOCH
}

bench_cleanup() {
  [[ -n "$proxy_pid" ]] && kill "$proxy_pid" 2>/dev/null || true
  for pid in "${registry_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
