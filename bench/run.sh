#!/usr/bin/env bash
# Side-by-side benchmark: pgvitals vs postgres_exporter on the shared fixtures, everything the
# performance targets ask measured in one run.
# usage: [BENCH_MINUTES=N] [SCRAPES=20] [GAP=0.5] bench/run.sh [small|large ...]   (default: small large)
# Per fixture: postgres_exporter, pgvitals defaults (top_n 200) and top_n 100000, SCRAPES scrapes
# GAP s apart; each pgvitals collector alone polling every 1 s (database time per poll); then
# pgvitals defaults at default intervals scraped every 15 s for BENCH_MINUTES minutes (default
# 6 on large, so the 5-minute table-sizes poll falls inside, 2 on small), which gives its CPU
# and database time per minute. Takes about BENCH_MINUTES + 2 min per fixture on small (≈ 4 min
# by default), more on large (building the fixture, postgres_exporter's multi-second scrapes):
# roughly 10-15 min by default. BENCH_MINUTES=1 bench/run.sh small checks the script in ≈ 3 min.
# Needs ../shared/bench (pgfixture.sh, scrape_bench.py; SHARED_BENCH overrides), promtool and
# prometheus-postgres-exporter (Debian: apt-get install prometheus prometheus-postgres-exporter).
# Builds pgvitals --release. Prints one JSON line per run, a markdown table of every run, the
# database time per poll, and last, per fixture, the ratios postgres_exporter / pgvitals against
# the targets. Traffic stays on 127.0.0.1.
set -euo pipefail
source "$(dirname "$0")/common.sh"
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(small large)
scrapes=${SCRAPES:-20}; gap=${GAP:-0.5}
build; workdir bench
results=$out/results.jsonl

for size in "${sizes[@]}"; do
  if [ "$size" = large ]; then minutes=${BENCH_MINUTES:-6}; else minutes=${BENCH_MINUTES:-2}; fi
  pgport=$(free_port); dir=$out/pg-$size
  dsn=$("$shared/pgfixture.sh" start "$pgport" "$dir" "$size" | tail -1)
  trap '"$shared/pgfixture.sh" stop "$dir"' EXIT
  # run KIND NAME [scrape_bench.py options] -- EXPORTER_COMMAND (its URL port is $port). Options
  # given here come after the defaults (SCRAPES, GAP) and so override them.
  run() {
    local kind=$1 name=$2; shift 2
    local json
    json=$(python3 "$shared/scrape_bench.py" --url "http://127.0.0.1:$port/metrics" --dsn-port "$pgport" \
             --scrapes "$scrapes" --gap "$gap" "$@")
    echo "{\"fixture\": \"$size\", \"kind\": \"$kind\", \"exporter\": \"$name\", \"minutes\": $minutes, \"result\": $json}" \
      | tee -a "$results"
  }
  defaults_config() {  # FILE TOP_N: pgvitals with default collectors and intervals, on $port
    cat > "$1" <<YAML
listen: "127.0.0.1:$port"
targets:
  - name: bench
    dsn: "$dsn"
collectors:
  table_sizes: { top_n: $2 }
YAML
  }
  port=$(free_port)
  DATA_SOURCE_NAME=$dsn run peer "postgres_exporter + equal-coverage queries" -- \
    prometheus-postgres-exporter --web.listen-address=127.0.0.1:$port \
    --extend.query-path="$shared/postgres_exporter-queries.yaml"
  for top_n in 200 100000; do
    port=$(free_port); defaults_config "$out/pgvitals-$size-$top_n.yaml" "$top_n"
    run "top_n_$top_n" "pgvitals defaults (top_n $top_n)" -- "$bin" run --config "$out/pgvitals-$size-$top_n.yaml"
  done
  # Database time per poll: one collector at a time, polling every second.
  for c in connection statements indexes table_sizes; do
    port=$(free_port)
    {
      echo "listen: \"127.0.0.1:$port\""
      echo "targets: [{name: bench, dsn: \"$dsn\"}]"
      echo "collectors:"
      for o in connection statements indexes table_sizes plans; do
        if [ "$o" = "$c" ]; then echo "  $o: { interval: 1s }"; else echo "  $o: { enabled: false }"; fi
      done
    } > "$out/pgvitals-$size-$c.yaml"
    run "poll_$c" "pgvitals, only $c, every 1 s (DB cost per poll)" -- "$bin" run --config "$out/pgvitals-$size-$c.yaml"
  done
  # CPU and database time per minute at the default intervals: the top_n 200 config scraped as
  # Prometheus would every 15 s, 4 scrapes a minute, so per minute = per scrape × 4.
  port=$(free_port); defaults_config "$out/pgvitals-$size-long.yaml" 200
  run long "pgvitals defaults, default intervals, 15 s scrapes for $minutes min" \
    --gap 15 --warmup 1 --scrapes $((4 * minutes)) -- "$bin" run --config "$out/pgvitals-$size-long.yaml"
  "$shared/pgfixture.sh" stop "$dir"; trap - EXIT
done

python3 - "$results" "$gap" <<'PY'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
gap = float(sys.argv[2])
print("\n| fixture | exporter | scrape p50 ms | p95 ms | series | bytes | RSS MiB | CPU ms/scrape | DB ms/scrape | promtool problems |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    x = r["result"]
    print(f"| {r['fixture']} | {r['exporter']} | {x['scrape_ms_p50']} | {x['scrape_ms_p95']} | {x['series']:,} | {x['bytes']:,} | "
          f"{x['rss_mib_peak']} | {x['cpu_ms_per_scrape']} | {x['db_ms_per_scrape']} | {x['promtool_problems']} |")
print("\nDatabase time per poll (one collector polling every 1 s; scrapes %.1f s apart):" % gap)
for r in rows:
    if r["kind"].startswith("poll_"):
        print(f"- {r['fixture']}: {r['exporter'].split(',')[1].strip()}: {r['result']['db_ms_per_scrape'] / gap:.1f} ms per poll")
print(f"\nraw results: {sys.argv[1]}")

def fmt(v):
    if isinstance(v, int) or abs(v) >= 100: return f"{v:,.0f}"
    return f"{round(v, 2 if abs(v) < 10 else 1)}"
def times(r):
    return f"{r:,.0f}×" if r >= 10 else f"{r:.1f}×"
for fixture in dict.fromkeys(r["fixture"] for r in rows):
    by = {r["kind"]: r for r in rows if r["fixture"] == fixture}
    if not all(k in by for k in ("peer", "top_n_200", "long")):
        continue
    peer, ours, long_ = by["peer"]["result"], by["top_n_200"]["result"], by["long"]["result"]
    # (measure, postgres_exporter, pgvitals, target ratio peer/pgvitals or None, target text)
    measures = [
        ("scrape p50 (ms)", peer["scrape_ms_p50"], ours["scrape_ms_p50"], 100, "≥100× faster"),
        ("series", peer["series"], ours["series"], 40, "≥40× fewer"),
        ("bytes", peer["bytes"], ours["bytes"], None, "—"),
        ("peak RSS (MiB)", peer["rss_mib_peak"], max(ours["rss_mib_peak"], long_["rss_mib_peak"]), 5, "≤ 1/5 (≥5×)"),
        ("CPU per minute (ms)", peer["cpu_ms_per_scrape"] * 4, long_["cpu_ms_per_scrape"] * 4, 4, "≥4× less"),
        ("DB time per minute (ms)", peer["db_ms_per_scrape"] * 4, long_["db_ms_per_scrape"] * 4, 4, "≥4× less"),
    ]
    print(f"\n{fixture}: ratio = postgres_exporter / pgvitals defaults (top_n 200). Per minute: postgres_exporter "
          f"per scrape × 4 (a 15 s scrape interval); pgvitals per scrape × 4 over {by['long']['minutes']} min of 15 s "
          f"scrapes at its default intervals. pgvitals peak RSS: the larger of its two default-config runs.")
    print("\n| measure | postgres_exporter | pgvitals | ratio | target | met |")
    print("|---|---|---|---|---|---|")
    for name, p, o, target, text in measures:
        if o:
            ratio = p / o; shown = times(ratio)
        else:  # below what the harness resolves: CPU counts in clock ticks over the whole window
            floor = 1000 / os.sysconf("SC_CLK_TCK") / by["long"]["minutes"] if name.startswith("CPU") else 0
            ratio = p / floor if floor else float("inf"); shown = f"> {times(ratio)}" if floor else "∞"
        met = "—" if target is None else "yes" if ratio >= target else "no" if o else "unresolved"
        print(f"| {name} | {fmt(p)} | {fmt(o)} | {shown} | {text} | {met} |")
PY
