#!/usr/bin/env bash
# Daemon CPU per minute at default intervals: pgvitals (release, default config) watching the
# large fixture of ../shared/bench for MINUTES (default 6, so the 5-minute table-sizes and
# findings polls are included), idle database, no scrapes. Prints CPU ms per minute and peak RSS;
# compare with postgres_exporter's CPU per scrape (bench/run.sh) × 4 scrapes a minute.
# usage: bench/cpu.sh [MINUTES]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); repo=$(dirname "$here")
shared=${SHARED_BENCH:-$repo/../shared/bench}
minutes=${1:-6}
(cd "$repo" && cargo build --release --quiet)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
out=$(mktemp -d /tmp/pgvitals-cpu.XXXXXX); chmod 755 "$out"
pgport=$(free_port); port=$(free_port)
dsn=$("$shared/pgfixture.sh" start "$pgport" "$out/pg" large | tail -1)
cleanup() { kill "${pids[@]}" 2>/dev/null || true; "$shared/pgfixture.sh" stop "$out/pg"; }
pids=(); trap cleanup EXIT
printf 'listen: "127.0.0.1:%s"\ntargets: [{name: cpu, dsn: "%s"}]\n' "$port" "$dsn" > "$out/config.yaml"
"$repo/target/release/pgvitals" run --config "$out/config.yaml" 2> "$out/pgvitals.log" &
pid=$!; pids+=("$pid")
until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.5; done
ticks=$(getconf CLK_TCK)
cpu0=$(awk '{print $14+$15}' "/proc/$pid/stat")
sleep $((minutes * 60))
cpu1=$(awk '{print $14+$15}' "/proc/$pid/stat")
polls=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^pgvitals_collector_polls_total/ {p+=$NF} END {print p}')
rss=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$pid/status")
echo "minutes=$minutes cpu_ms=$(( (cpu1 - cpu0) * 1000 / ticks )) cpu_ms_per_minute=$(( (cpu1 - cpu0) * 1000 / ticks / minutes )) polls=$polls peak_rss_mib=$rss"
