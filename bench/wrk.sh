#!/usr/bin/env bash
# HTTP load: wrk with 200 connections on /metrics for 30 s against pgvitals (release) watching
# the small fixture of ../shared/bench, every collector polling every 1-2 s meanwhile. Prints
# wrk's latency distribution and requests/s, and pgvitals' own count of failed polls and skipped
# ticks before and after (both must stay put: no poll deadline missed under load).
# usage: bench/wrk.sh [SECONDS] [CONNECTIONS]   (default 30 200; needs `wrk`, Debian package)
set -euo pipefail
source "$(dirname "$0")/common.sh"
seconds=${1:-30}; conns=${2:-200}
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
build; workdir wrk; start_fixture small
cat > "$out/config.yaml" <<YAML
listen: "127.0.0.1:$port"
targets: [{name: load, dsn: "$dsn"}]
collectors:
  connection: {interval: 1s}
  statements: {interval: 1s}
  indexes: {interval: 2s}
  migrations: {interval: 1s}
  table_sizes: {interval: 2s}
web:
  max_connections: 512
YAML
start_pgvitals wait
sleep 3
counts() {
  curl -s "http://127.0.0.1:$port/metrics" | awk '
    /^pgvitals_collector_errors_total/ {e+=$NF}
    /^pgvitals_collector_skipped_ticks_total/ {s+=$NF}
    /^pgvitals_collector_polls_total/ {p+=$NF}
    END {printf "polls=%d failed=%d skipped=%d", p, e, s}'
}
series=$(curl -s "http://127.0.0.1:$port/metrics" | grep -vc '^#')
bytes=$(curl -s "http://127.0.0.1:$port/metrics" | wc -c)
before=$(counts)
cpu0=$(awk '{print $14+$15}' "/proc/$pid/stat")
wrk -t2 -c"$conns" -d"${seconds}s" --latency "http://127.0.0.1:$port/metrics" | tee "$out/wrk.txt"
cpu1=$(awk '{print $14+$15}' "/proc/$pid/stat")
after=$(counts)
rss=$(awk '/VmHWM/ {print $2/1024}' "/proc/$pid/status")
echo
echo "exposition: $series series, $bytes bytes"
echo "pgvitals before: $before"
echo "pgvitals after:  $after"
echo "pgvitals CPU during the run: $(( (cpu1 - cpu0) * 10 )) ms; peak RSS ${rss} MiB"
grep -E 'ERROR|WARN' "$out/pgvitals.log" | head -5 || true
