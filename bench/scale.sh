#!/usr/bin/env bash
# Scale: one pgvitals (release, default intervals) watching 200 targets — 4 throwaway clusters
# (../shared/bench/pgfixture.sh small) × 50 databases of 50 tables each, listed in a target file
# as a fleet's configuration management would — for MINUTES minutes, scraped every 15 s by a real
# Prometheus (Debian's `prometheus`; its own scrape_duration_seconds is reported).
# Reports deadline misses (skipped ticks, also those after the first minute of start-up; timed-out
# or failed polls), RSS, CPU, and scrape time, plain and gzip (`curl --compressed`, which inflates
# as Prometheus does): every 15 s during the run, then 20 back to back; the families with the
# most series; then each console page's time and size at 200 targets (20 requests each).
# usage: bench/scale.sh [MINUTES]   (default 10)
set -euo pipefail
source "$(dirname "$0")/common.sh"
minutes=${1:-10}
build; workdir scale
ports=()
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; [ -n "${prom:-}" ] && kill "$prom" 2>/dev/null; for c in 0 1 2 3; do "$shared/pgfixture.sh" stop "$out/pg$c"; done; }
trap cleanup EXIT
port=$(free_port)
printf 'listen: "127.0.0.1:%s"\ntarget_files: [targets.yaml]\n' "$port" > "$out/config.yaml"
: > "$out/targets.yaml"
for c in 0 1 2 3; do
  p=$(free_port); ports+=("$p")
  "$shared/pgfixture.sh" start "$p" "$out/pg$c" small > /dev/null
  for d in $(seq 1 49); do echo "CREATE DATABASE db$d TEMPLATE bench;"; done |
    psql -X -q -h 127.0.0.1 -p "$p" -U postgres -d postgres > /dev/null
  for d in bench $(seq -f 'db%g' 1 49); do
    echo "- { name: c$c-$d, dsn: \"postgresql://monitor@127.0.0.1:$p/$d?sslmode=disable\" }" >> "$out/targets.yaml"
  done
done
echo "targets: $(grep -c 'name: c' "$out/targets.yaml")"
"$bin" run --config "$out/config.yaml" 2> "$out/pgvitals.log" &
pid=$!
prom_port=$(free_port)
printf 'global:\n  scrape_interval: 15s\n  scrape_timeout: 10s\nscrape_configs:\n  - job_name: pgvitals\n    static_configs:\n      - targets: ["127.0.0.1:%s"]\n' "$port" > "$out/prometheus.yml"
prometheus --config.file="$out/prometheus.yml" --storage.tsdb.path="$out/prometheus" \
  --web.listen-address="127.0.0.1:$prom_port" 2> "$out/prometheus.log" &
prom=$!
ticks0=$(awk '{print $14+$15}' "/proc/$pid/stat")
# Scraped as Prometheus would, every 15 s for the whole run; each scrape timed.
scrapes=(); gscrapes=(); rss=()
for i in $(seq 1 $((minutes * 4))); do
  sleep 15
  scrapes+=("$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$port/metrics")")
  gscrapes+=("$(curl -s --compressed -o /dev/null -w '%{time_total}' "http://127.0.0.1:$port/metrics")")
  [ "$i" -eq 4 ] && curl -s "http://127.0.0.1:$port/metrics" > "$out/metrics-1min.txt"
  [ $((i % 4)) -eq 0 ] && rss+=("$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")")
done
curl -s "http://127.0.0.1:$port/metrics" > "$out/metrics.txt"
# Prometheus' own measure of every scrape of the run (it asks for gzip, as it always does).
promq() {
  curl -s --data-urlencode "query=$1" "http://127.0.0.1:$prom_port/api/v1/query" |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print("%.2f" % (float(r[0]["value"][1]) * 1000) if r else "none")'
}
range="${minutes}m"
prom_line="Prometheus scrape_duration_seconds over the run ($(curl -s --data-urlencode "query=count_over_time(scrape_duration_seconds[$range])" "http://127.0.0.1:$prom_port/api/v1/query" | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)') scrapes): p50 $(promq "quantile_over_time(0.5, scrape_duration_seconds[$range])") ms, p99 $(promq "quantile_over_time(0.99, scrape_duration_seconds[$range])") ms, max $(promq "max_over_time(scrape_duration_seconds[$range])") ms"
ticks1=$(awk '{print $14+$15}' "/proc/$pid/stat")
times=(); gtimes=()
for i in $(seq 1 20); do
  times+=("$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$port/metrics")")
done
for i in $(seq 1 20); do
  gtimes+=("$(curl -s --compressed -o /dev/null -w '%{time_total}' "http://127.0.0.1:$port/metrics")")
done
gzip_bytes=$(curl -s -H 'Accept-Encoding: gzip' "http://127.0.0.1:$port/metrics" | wc -c)
# The console at fleet size: each page 20 times (time from curl: request to last byte), its size.
qid=$(curl -s "http://127.0.0.1:$port/statements?window=1h" |
  python3 -c 'import json,sys; d=json.load(sys.stdin); print(next((s["queryid"] for t in d["targets"] for s in t["statements"]), "0"))')
for page in / "/ui/statements?window=15m" "/ui/statements?window=24h&order=mean" "/ui/statements/$qid" \
            /ui/findings /ui/migrations /ui/alerts /ui/connections; do
  for i in $(seq 1 20); do
    curl -s -o /dev/null -w '%{time_total} %{size_download} %{http_code}\n' "http://127.0.0.1:$port$page"
  done | python3 -c '
import statistics, sys
rows = [l.split() for l in sys.stdin if l.strip()]
t = sorted(float(r[0]) * 1000 for r in rows)
print(f"console {sys.argv[1]:<40} status {rows[0][2]}  p50 {statistics.median(t):6.2f} ms  max {max(t):6.2f} ms  {int(rows[-1][1]) / 1024:7.1f} KiB")
' "$page"
done
RSS_KIB="${rss[*]}" PROM_LINE=$prom_line python3 - "$out/metrics.txt" "$pid" "$ticks0" "$ticks1" "$minutes" "$out/metrics-1min.txt" "${scrapes[*]}" "${gscrapes[*]}" "${gtimes[*]}" "$gzip_bytes" "${times[@]}" <<'PY'
import os, sys, statistics
text = open(sys.argv[1]).read().splitlines()
early = open(sys.argv[6]).read().splitlines()
pid, t0, t1, minutes = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
every15 = sorted(float(t) * 1000 for t in sys.argv[7].split())
gevery15 = sorted(float(t) * 1000 for t in sys.argv[8].split())
gtimes = sorted(float(t) * 1000 for t in sys.argv[9].split())
gzip_bytes = int(sys.argv[10])
times = sorted(float(t) * 1000 for t in sys.argv[11:])
pct = lambda xs, q: xs[int(q * (len(xs) - 1))]
def total(name, lines=text, **want):
    s = 0.0
    for l in lines:
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
skips = lambda lines: total('pgvitals_collector_skipped_ticks_total', lines)
print(f"skipped ticks after the first minute: {skips(text) - skips(early):.0f} "
      f"(polls after the first minute: {total('pgvitals_collector_polls_total') - total('pgvitals_collector_polls_total', early):.0f})")
print(f"errors by collector: " + ", ".join(f"{c} {total('pgvitals_collector_errors_total', collector=c):.0f}"
      for c in ["connection", "statements", "indexes", "migrations", "table_sizes"]))
print(" ".join(l.split()[0] + " " + str(round(int(l.split()[1]) / 1024, 1)) + " MiB" for l in hwm))
print(f"CPU: {(t1 - t0) * 1000 / os.sysconf('SC_CLK_TCK') / minutes:.0f} ms per minute")
print(f"scrapes every 15 s during the run ({len(every15)}): p50 {statistics.median(every15):.2f} ms, "
      f"p95 {every15[int(0.95 * (len(every15) - 1))]:.2f} ms, max {max(every15):.2f} ms")
print(f"20 scrapes back to back at the end: p50 {statistics.median(times):.2f} ms, p99 {pct(times, 0.99):.2f} ms, "
      f"{sum(1 for l in text if l and not l.startswith('#'))} series, {sum(len(l) + 1 for l in text)} bytes")
print(f"gzip scrapes every 15 s during the run ({len(gevery15)}): p50 {statistics.median(gevery15):.2f} ms, "
      f"p99 {pct(gevery15, 0.99):.2f} ms, max {max(gevery15):.2f} ms")
print(f"20 gzip scrapes back to back at the end: p50 {statistics.median(gtimes):.2f} ms, p99 {pct(gtimes, 0.99):.2f} ms, "
      f"{gzip_bytes} bytes compressed")
print(os.environ["PROM_LINE"])
rss = [int(k) / 1024 for k in os.environ["RSS_KIB"].split()]
if len(rss) >= 6:
    base = rss[4]
    print(f"RSS by minute (MiB): {' '.join(f'{r:.0f}' for r in rss)}; minute 5 {base:.1f}, "
          f"minute {len(rss)} {rss[-1]:.1f} ({(rss[-1] - base) / base * 100:+.1f} %), "
          f"range after minute 5 {min(rss[4:]):.1f}..{max(rss[4:]):.1f}")
import collections
fams = collections.Counter(l.split("{")[0].split(" ")[0] for l in text if l and not l.startswith("#"))
print("most series: " + ", ".join(f"{n} {c}" for n, c in fams.most_common(8)))
PY
