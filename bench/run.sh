#!/usr/bin/env bash
# Side-by-side benchmark: pgvitals vs postgres_exporter on the shared fixtures, everything the
# performance targets ask measured in one run.
# usage: [BENCH_MINUTES=N] [SCRAPES=20] [GAP=0.5] bench/run.sh [small|large ...]   (default: small large)
# Per fixture: postgres_exporter, pgvitals defaults (top_n 200) and top_n 100000, SCRAPES scrapes
# GAP s apart; each pgvitals collector alone polling every 1 s (bench/poll_cost.py: database
# time per poll, and so per minute at its default interval, and the series it adds); then
# pgvitals defaults at default intervals scraped every 15 s for BENCH_MINUTES minutes (default
# 6 on large, so the 5-minute table-sizes poll falls inside, 2 on small), which gives its CPU
# and database time per minute. Takes about BENCH_MINUTES + 6 min per fixture on small (≈ 8 min
# by default), more on large (building the fixture, postgres_exporter's multi-second scrapes):
# roughly 20 min by default. BENCH_MINUTES=1 bench/run.sh small checks the script in ≈ 7 min.
# Needs ../shared/bench (pgfixture.sh, scrape_bench.py; SHARED_BENCH overrides), promtool and
# prometheus-postgres-exporter (Debian: apt-get install prometheus prometheus-postgres-exporter).
# Builds pgvitals --release. Prints one JSON line per run, a markdown table of every run, per
# fixture a table of each collector's database time per poll and per minute and its series, and
# last, per fixture, the ratios postgres_exporter / pgvitals against the targets. Traffic stays
# on 127.0.0.1.
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
  # Database time and series per poll: one collector at a time, polling every second; the
  # two sub-schedules (index findings, database sizes) also measured on every poll.
  poll() {
    python3 "$here/poll_cost.py" --bin "$bin" --dsn "$dsn" --pgport "$pgport" "$@" \
      | sed "s/^/{\"fixture\": \"$size\", \"kind\": \"poll\", \"result\": /; s/\$/}/" | tee -a "$results"
  }
  poll --collector none
  for c in connection statements indexes migrations table_sizes database wraparound vacuum \
           sequences replication checkpoints bloat standards; do
    poll --collector "$c"
  done
  poll --collector indexes --also "findings_interval: 1s"
  poll --collector database --also "size_interval: 1s"
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
    if r["kind"] == "poll":
        continue
    x = r["result"]
    print(f"| {r['fixture']} | {r['exporter']} | {x['scrape_ms_p50']} | {x['scrape_ms_p95']} | {x['series']:,} | {x['bytes']:,} | "
          f"{x['rss_mib_peak']} | {x['cpu_ms_per_scrape']} | {x['db_ms_per_scrape']} | {x['promtool_problems']} |")
# Per collector: database time per poll (alone, every 1 s), at its default interval per minute,
# and the series it adds to the daemon's own (every collector off). A sub-schedule's extra
# work (index findings, database sizes) counts at its own interval.
SUB = {"indexes": ("findings_interval: 1s", 300), "database": ("size_interval: 1s", 300)}
collectors_ms = {}
for fixture in dict.fromkeys(r["fixture"] for r in rows):
    polls = {(r["result"]["collector"], r["result"]["also"]): r["result"]
             for r in rows if r["fixture"] == fixture and r["kind"] == "poll"}
    if not polls:
        continue
    base = polls[("none", "")]["series"]
    print(f"\n{fixture}: each collector alone, polling every 1 s (daemon's own series: {base})\n")
    print("| collector | DB ms per poll | polls counted | default interval | DB ms per minute | series |")
    print("|---|---|---|---|---|---|")
    total_ms = total_series = 0
    for (c, also), x in polls.items():
        if c == "none" or also:
            continue
        per_poll = x["db_ms_per_poll"] or 0
        per_min = per_poll * 60 / x["default_interval_s"]
        shown = f"{per_poll}"
        if c in SUB and (c, SUB[c][0]) in polls:
            extra = max((polls[(c, SUB[c][0])]["db_ms_per_poll"] or 0) - per_poll, 0)
            per_min += extra * 60 / SUB[c][1]
            shown += f" (+{extra:.1f} every {SUB[c][1] // 60} min)"
        total_ms += per_min; total_series += x["series"] - base
        interval = x["default_interval_s"]
        interval = f"{interval / 60:g} min" if interval >= 60 else f"{interval:g} s"
        print(f"| {c} | {shown} | {x['polls']} | {interval} | {per_min:.1f} | {x['series'] - base:,} |")
    print(f"| sum | | | | {total_ms:.1f} | {total_series + base:,} with the daemon's own |")
    collectors_ms[fixture] = total_ms
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
        ("series, absolute", None, ours["series"], None, "< 2,500"),
        ("bytes", peer["bytes"], ours["bytes"], None, "—"),
        ("peak RSS (MiB)", peer["rss_mib_peak"], max(ours["rss_mib_peak"], long_["rss_mib_peak"]), 5, "≤ 1/5 (≥5×)"),
        ("CPU per minute (ms)", peer["cpu_ms_per_scrape"] * 4, long_["cpu_ms_per_scrape"] * 4, 4, "≥4× less"),
        ("DB time per minute (ms)", peer["db_ms_per_scrape"] * 4, long_["db_ms_per_scrape"] * 4, 8, "≤ 1/8 (≥8×)"),
        ("DB time per minute, sum of collectors (ms)", peer["db_ms_per_scrape"] * 4,
         collectors_ms.get(fixture, 0), 8, "≤ 1/8 (≥8×)"),
    ]
    print(f"\n{fixture}: ratio = postgres_exporter / pgvitals defaults (top_n 200). Per minute: postgres_exporter "
          f"per scrape × 4 (a 15 s scrape interval); pgvitals per scrape × 4 over {by['long']['minutes']} min of 15 s "
          f"scrapes at its default intervals. pgvitals peak RSS: the larger of its two default-config runs.")
    print("\n| measure | postgres_exporter | pgvitals | ratio | target | met |")
    print("|---|---|---|---|---|---|")
    for name, p, o, target, text in measures:
        if p is None:  # an absolute bound on pgvitals alone
            print(f"| {name} | — | {fmt(o)} | — | {text} | {'yes' if o < 2500 else 'no'} |")
            continue
        if o:
            ratio = p / o; shown = times(ratio)
        else:  # below what the harness resolves: CPU counts in clock ticks over the whole window
            floor = 1000 / os.sysconf("SC_CLK_TCK") / by["long"]["minutes"] if name.startswith("CPU") else 0
            ratio = p / floor if floor else float("inf"); shown = f"> {times(ratio)}" if floor else "∞"
        met = "—" if target is None else "yes" if ratio >= target else "no" if o else "unresolved"
        print(f"| {name} | {fmt(p)} | {fmt(o)} | {shown} | {text} | {met} |")
PY
