#!/usr/bin/env bash
# Scale: one pgvitals (release, default intervals) watching 200 targets — 4 throwaway clusters
# (../shared/bench/pgfixture.sh small) × 50 databases of 50 tables each — for MINUTES minutes.
# Reports deadline misses (skipped ticks, timed-out or failed polls), RSS, CPU and scrape time.
# usage: bench/scale.sh [MINUTES]   (default 10)
set -euo pipefail
source "$(dirname "$0")/common.sh"
minutes=${1:-10}
build; workdir scale
ports=()
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; for c in 0 1 2 3; do "$shared/pgfixture.sh" stop "$out/pg$c"; done; }
trap cleanup EXIT
port=$(free_port)
echo "listen: \"127.0.0.1:$port\"" > "$out/config.yaml"
echo "targets:" >> "$out/config.yaml"
for c in 0 1 2 3; do
  p=$(free_port); ports+=("$p")
  "$shared/pgfixture.sh" start "$p" "$out/pg$c" small > /dev/null
  for d in $(seq 1 49); do echo "CREATE DATABASE db$d TEMPLATE bench;"; done |
    psql -X -q -h 127.0.0.1 -p "$p" -U postgres -d postgres > /dev/null
  for d in bench $(seq -f 'db%g' 1 49); do
    echo "  - { name: c$c-$d, dsn: \"postgresql://monitor@127.0.0.1:$p/$d?sslmode=disable\" }" >> "$out/config.yaml"
  done
done
echo "targets: $(grep -c 'name: c' "$out/config.yaml")"
"$bin" run --config "$out/config.yaml" 2> "$out/pgvitals.log" &
pid=$!
ticks0=$(awk '{print $14+$15}' "/proc/$pid/stat")
sleep $((minutes * 60))
curl -s "http://127.0.0.1:$port/metrics" > "$out/metrics.txt"
ticks1=$(awk '{print $14+$15}' "/proc/$pid/stat")
times=()
for i in $(seq 1 20); do
  times+=("$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$port/metrics")")
done
python3 - "$out/metrics.txt" "$pid" "$ticks0" "$ticks1" "$minutes" "${times[@]}" <<'PY'
import os, sys, statistics
text = open(sys.argv[1]).read().splitlines()
pid, t0, t1, minutes = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
times = sorted(float(t) * 1000 for t in sys.argv[6:])
def total(name, **want):
    s = 0.0
    for l in text:
        if l.startswith(name + "{") and all(f'{k}="{v}"' in l for k, v in want.items()):
            s += float(l.rsplit(" ", 1)[1])
    return s
def count(name, value):
    return sum(1 for l in text if l.startswith(name + "{") and l.rsplit(" ", 1)[1] == value)
hwm = [l for l in open(f"/proc/{pid}/status") if l.startswith(("VmHWM", "VmRSS"))]
print(f"targets up: {count('pgvitals_up', '1')} of {count('pgvitals_up', '1') + count('pgvitals_up', '0')}")
print(f"polls: {total('pgvitals_collector_polls_total'):.0f}, failed or timed out: {total('pgvitals_collector_errors_total'):.0f}"
      )
print(f"skipped ticks: busy {total('pgvitals_collector_skipped_ticks_total', reason='busy'):.0f}, "
      f"target down {total('pgvitals_collector_skipped_ticks_total', reason='target_down'):.0f}")
print(f"errors by collector: " + ", ".join(f"{c} {total('pgvitals_collector_errors_total', collector=c):.0f}"
      for c in ["connection", "statements", "indexes", "migrations", "table_sizes"]))
print(" ".join(l.split()[0] + " " + str(round(int(l.split()[1]) / 1024, 1)) + " MiB" for l in hwm))
print(f"CPU: {(t1 - t0) * 1000 / os.sysconf('SC_CLK_TCK') / minutes:.0f} ms per minute")
print(f"scrape: p50 {statistics.median(times):.2f} ms, max {max(times):.2f} ms, "
      f"{sum(1 for l in text if l and not l.startswith('#'))} series, {sum(len(l) + 1 for l in text)} bytes")
PY
