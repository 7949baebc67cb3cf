#!/usr/bin/env bash
# PgBouncer side by side: pgvitals vs prometheus-pgbouncer-exporter, Debian's (1.7) and PyPI's
# (2.1.2), on one PgBouncer with POOLS pools (default 100), in one run.
# usage: [POOLS=100] [SCRAPES=20] [GAP=0.5] bench/pgbouncer.sh
# A small fixture cluster (../shared/bench/pgfixture.sh) behind a PgBouncer (Debian's
# `pgbouncer`) with POOLS databases, one idle client holding each pool; each exporter reads the
# same admin console as the `stats` user and is scraped SCRAPES times GAP s apart by
# ../shared/bench/scrape_bench.py: scrape time, series, bytes, peak RSS, CPU per scrape. pgvitals
# reads PgBouncer every 15 s and serves scrapes from memory; the peer reads it on every scrape.
# Debian's exporter reads `total_requests`, a column PgBouncer 1.8 renamed: when it serves no
# scrape the script says why and goes on. PyPI's is installed into a virtualenv over Debian's
# psycopg2 (python3-psycopg2). Prints one JSON line per exporter and a ratio table per peer.
# Takes about 2 min. Needs pgbouncer, prometheus-pgbouncer-exporter, python3-venv and promtool
# (apt-get install pgbouncer prometheus-pgbouncer-exporter python3-venv prometheus); reaches
# PyPI once. Traffic stays on 127.0.0.1.
set -euo pipefail
source "$(dirname "$0")/common.sh"
pools=${POOLS:-100}; scrapes=${SCRAPES:-20}; gap=${GAP:-0.5}
build; workdir pgbouncer
results=$out/results.jsonl
pgport=$(free_port); bport=$(free_port)
"$shared/pgfixture.sh" start "$pgport" "$out/pg" small >/dev/null
trap 'kill "${pids[@]}" 2>/dev/null || true; kill "$(cat "$out/pgbouncer.pid" 2>/dev/null)" 2>/dev/null || true; "$shared/pgfixture.sh" stop "$out/pg"' EXIT

{
  echo "[databases]"
  for i in $(seq -w 1 "$pools"); do
    echo "db$i = host=127.0.0.1 port=$pgport dbname=bench user=postgres pool_size=2"
  done
  cat <<INI
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bport
unix_socket_dir =
auth_type = trust
auth_file = $out/users.txt
stats_users = stats
pool_mode = transaction
max_client_conn = $((pools + 100))
logfile = $out/pgbouncer.log
pidfile = $out/pgbouncer.pid
INI
} > "$out/pgbouncer.ini"
printf '"stats" ""\n"app" ""\n' > "$out/users.txt"
if [ "$(id -u)" = 0 ]; then
  chown postgres "$out" "$out/pgbouncer.ini" "$out/users.txt"
  runuser -u postgres -- pgbouncer -d "$out/pgbouncer.ini"
else
  pgbouncer -d "$out/pgbouncer.ini"
fi
admin() { psql -X -Atq -h 127.0.0.1 -p "$bport" -U stats -d pgbouncer -c "$1"; }
until admin "SHOW VERSION" >/dev/null 2>&1; do sleep 0.2; done

# One idle client per database: PgBouncer has a pool only while a client uses it.
/usr/bin/python3 - "$bport" "$pools" <<'PY' &
import sys, time, psycopg2
port, pools = int(sys.argv[1]), int(sys.argv[2])
held = []
for i in range(1, pools + 1):
    c = psycopg2.connect(host="127.0.0.1", port=port, user="app", dbname=f"db{i:0{len(str(pools))}d}")
    c.autocommit = True
    c.cursor().execute("select 1")
    held.append(c)
time.sleep(10**6)
PY
pids+=($!)
until [ "$(admin "SHOW POOLS" | grep -c '^db')" -ge "$pools" ]; do sleep 0.2; done
version=$(admin "SHOW VERSION")

run() {  # NAME [scrape_bench.py options] -- EXPORTER_COMMAND (its URL port is $port)
  local name=$1; shift
  local json
  if json=$(python3 "$shared/scrape_bench.py" --url "http://127.0.0.1:$port/metrics" --dsn-port "$pgport" \
              --scrapes "$scrapes" --gap "$gap" --ready-timeout 30 "$@"); then
    echo "{\"exporter\": \"$name\", \"pools\": $pools, \"pgbouncer\": \"$version\", \"result\": $json}" | tee -a "$results"
  else
    # The exporter never served a scrape: say why, from its own log.
    local why
    why=$(grep -v '^ ' /tmp/scrape_bench_exporter.log | tail -1 | tr -d '"\\')
    echo "{\"exporter\": \"$name\", \"pools\": $pools, \"pgbouncer\": \"$version\", \"failed\": \"$why\"}" | tee -a "$results"
  fi
}
# Debian's prometheus-pgbouncer-exporter (1.7, Debian 12).
port=$(free_port)
run "prometheus-pgbouncer-exporter 1.7 (Debian)" -- prometheus-pgbouncer-exporter --host 127.0.0.1 --port "$port" \
  --pgbouncer-host 127.0.0.1 --pgbouncer-port "$bport" --pgbouncer-user stats
# The same name on PyPI (2.1.2), in a virtualenv over Debian's psycopg2 and prometheus_client.
/usr/bin/python3 -m venv --system-site-packages "$out/venv"
"$out/venv/bin/pip" install -q --no-deps prometheus-pgbouncer-exporter==2.1.2 python-json-logger==0.1.11
port=$(free_port)
cat > "$out/pypi-exporter.yml" <<YAML
exporter_host: 127.0.0.1
exporter_port: $port
pgbouncers:
  - dsn: postgresql://stats@127.0.0.1:$bport/pgbouncer
YAML
run "prometheus-pgbouncer-exporter 2.1.2 (PyPI)" -- "$out/venv/bin/pgbouncer-exporter" --config "$out/pypi-exporter.yml"
port=$(free_port)
cat > "$out/pgvitals.yaml" <<YAML
listen: "127.0.0.1:$port"
pgbouncers:
  - name: bench
    dsn: "host=127.0.0.1 port=$bport user=stats dbname=pgbouncer sslmode=disable"
YAML
run "pgvitals (pgbouncers only, defaults)" -- "$bin" run --config "$out/pgvitals.yaml"

python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ours = rows[-1]["result"]
print(f"\n{rows[0]['pgbouncer']}, {rows[0]['pools']} pools; ratio = peer / pgvitals\n")
for peer in rows[:-1]:
    if "failed" in peer:
        print(f"{peer['exporter']}: no scrape served: {peer['failed']}\n")
        continue
    p = peer["result"]
    print(f"| measure | {peer['exporter']} | pgvitals | ratio |")
    print("|---|---|---|---|")
    for name, key in [("scrape p50 (ms)", "scrape_ms_p50"), ("scrape p95 (ms)", "scrape_ms_p95"),
                      ("series", "series"), ("bytes", "bytes"), ("peak RSS (MiB)", "rss_mib_peak"),
                      ("CPU per scrape (ms)", "cpu_ms_per_scrape"), ("promtool problems", "promtool_problems")]:
        ratio = f"{p[key] / ours[key]:,.1f}×" if ours[key] else "—"
        print(f"| {name} | {p[key]:,} | {ours[key]:,} | {ratio} |")
    print()
print(f"raw results: {sys.argv[1]}")
PY
