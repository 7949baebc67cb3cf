# Sourced by the bench scripts: where things are, a release build, free ports, a work
# directory, and for the one-fixture scripts a throwaway fixture cluster and a pgvitals run
# against it, both stopped when the script exits.
here=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd); repo=$(dirname "$here")
shared=${SHARED_BENCH:-$repo/../shared/bench}
bin=$repo/target/release/pgvitals
pids=()

build() { (cd "$repo" && cargo build --release --quiet); }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# workdir NAME: $out, readable by the postgres user that runs the fixture servers.
workdir() { out=$(mktemp -d "/tmp/pgvitals-$1.XXXXXX"); chmod 755 "$out"; }

# start_fixture SIZE: a fixture cluster in $out/pg (sets $pgport and $dsn) and a free $port for
# pgvitals; the cluster and every pid in $pids are stopped on exit.
start_fixture() {
  pgport=$(free_port); port=$(free_port)
  dsn=$("$shared/pgfixture.sh" start "$pgport" "$out/pg" "$1" | tail -1)
  trap 'kill "${pids[@]}" 2>/dev/null || true; "$shared/pgfixture.sh" stop "$out/pg"' EXIT
}

# start_pgvitals [wait]: runs pgvitals with $out/config.yaml in the background (sets $pid,
# logs to $out/pgvitals.log); with `wait`, returns once /readyz answers on $port.
start_pgvitals() {
  "$bin" run --config "$out/config.yaml" 2> "$out/pgvitals.log" &
  pid=$!; pids+=("$pid")
  if [ "${1:-}" = wait ]; then
    until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.5; done
  fi
}
