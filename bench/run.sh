#!/usr/bin/env bash
# Side-by-side benchmark: pgvitals vs postgres_exporter on the shared fixtures.
# usage: bench/run.sh [small|large ...]     (default: small large)
# Needs ../shared/bench (pgfixture.sh, scrape_bench.py), promtool and prometheus-postgres-exporter
# (Debian: apt-get install prometheus prometheus-postgres-exporter). Builds pgvitals --release.
# Prints one JSON line per run and a markdown table at the end. Traffic stays on 127.0.0.1.
set -euo pipefail
source "$(dirname "$0")/common.sh"
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(small large)
scrapes=${SCRAPES:-20}; gap=${GAP:-0.5}
build; workdir bench
results=$out/results.jsonl

for size in "${sizes[@]}"; do
  pgport=$(free_port); dir=$out/pg-$size
  dsn=$("$shared/pgfixture.sh" start "$pgport" "$dir" "$size" | tail -1)
  trap '"$shared/pgfixture.sh" stop "$dir"' EXIT
  run() {  # name, then the exporter command (its URL port is $port)
    local name=$1; shift
    local json
    json=$(python3 "$shared/scrape_bench.py" --url "http://127.0.0.1:$port/metrics" --dsn-port "$pgport" \
             --scrapes "$scrapes" --gap "$gap" -- "$@")
    echo "{\"fixture\": \"$size\", \"exporter\": \"$name\", \"result\": $json}" | tee -a "$results"
  }
  port=$(free_port)
  DATA_SOURCE_NAME=$dsn run "postgres_exporter + equal-coverage queries" \
    prometheus-postgres-exporter --web.listen-address=127.0.0.1:$port \
    --extend.query-path="$shared/postgres_exporter-queries.yaml"
  for top_n in 200 100000; do
    port=$(free_port)
    cat > "$out/pgvitals-$size-$top_n.yaml" <<YAML
listen: "127.0.0.1:$port"
targets:
  - name: bench
    dsn: "$dsn"
collectors:
  table_sizes: { top_n: $top_n }
YAML
    run "pgvitals defaults (top_n $top_n)" "$bin" run --config "$out/pgvitals-$size-$top_n.yaml"
  done
  # Database time per poll: one collector at a time, polling every second.
  for c in connection statements indexes table_sizes; do
    port=$(free_port)
    {
      echo "listen: \"127.0.0.1:$port\""
      echo "targets: [{name: bench, dsn: \"$dsn\"}]"
      echo "collectors:"
      for o in connection statements indexes table_sizes; do
        if [ "$o" = "$c" ]; then echo "  $o: { interval: 1s }"; else echo "  $o: { enabled: false }"; fi
      done
    } > "$out/pgvitals-$size-$c.yaml"
    run "pgvitals, only $c, every 1 s (DB cost per poll)" "$bin" run --config "$out/pgvitals-$size-$c.yaml"
  done
  "$shared/pgfixture.sh" stop "$dir"; trap - EXIT
done

python3 - "$results" "$gap" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
gap = float(sys.argv[2])
print("\n| fixture | exporter | scrape p50 ms | p95 ms | series | bytes | RSS MiB | CPU ms/scrape | DB ms/scrape | promtool problems |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    x = r["result"]
    print(f"| {r['fixture']} | {r['exporter']} | {x['scrape_ms_p50']} | {x['scrape_ms_p95']} | {x['series']:,} | {x['bytes']:,} | "
          f"{x['rss_mib_peak']} | {x['cpu_ms_per_scrape']} | {x['db_ms_per_scrape']} | {x['promtool_problems']} |")
print("\nRatios, postgres_exporter / pgvitals defaults (top_n 200), same run:")
for fixture in sorted({r["fixture"] for r in rows}):
    peer = next((r["result"] for r in rows if r["fixture"] == fixture and r["exporter"].startswith("postgres_exporter")), None)
    ours = next((r["result"] for r in rows if r["fixture"] == fixture and "top_n 200" in r["exporter"]), None)
    if peer and ours:
        ratio = lambda k: peer[k] / ours[k] if ours[k] else float("inf")
        print(f"- {fixture}: scrape p50 {ratio('scrape_ms_p50'):.0f}x faster, series {ratio('series'):.0f}x fewer, "
              f"bytes {ratio('bytes'):.0f}x fewer, peak RSS {ratio('rss_mib_peak'):.1f}x lower")
print("\nDatabase time per poll (one collector polling every 1 s; scrapes %.1f s apart):" % gap)
for r in rows:
    if "DB cost per poll" in r["exporter"]:
        print(f"- {r['fixture']}: {r['exporter'].split(',')[1].strip()}: {r['result']['db_ms_per_scrape'] / gap:.1f} ms per poll")
PY
echo "raw results: $results"
