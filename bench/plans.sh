#!/usr/bin/env bash
# Plan capture's database cost at its defaults: pgvitals (release, default config) watching the
# large fixture of ../shared/bench while the fixture's workload (5,000 statements over 5,000
# tables) runs again and again, the monitoring role allowed to read the tables
# (pg_read_all_data), for MINUTES (default 5). Prints the plans captured and failed, and the
# database time pgvitals spent capturing them per minute: its EXPLAIN entries and the
# PREPARE/BEGIN/SET/ROLLBACK/DEALLOCATE around them in pg_stat_statements, and hypopg calls.
# usage: bench/plans.sh [MINUTES]
set -euo pipefail
source "$(dirname "$0")/common.sh"
minutes=${1:-5}
build; workdir plans; start_fixture large
sql() { psql -X -q -At -h 127.0.0.1 -p "$pgport" -U postgres "$@"; }
sql -c "grant pg_read_all_data to monitor"
( while true; do sql -d bench -f "$out/pg/workload.sql" >/dev/null 2>&1 || true; done ) &
pids+=($!)
printf 'listen: "127.0.0.1:%s"\ntargets: [{name: plans, dsn: "%s"}]\n' "$port" "$dsn" > "$out/config.yaml"
start_pgvitals wait
t0=$(date +%s)
sleep $((minutes * 60))
elapsed=$(( $(date +%s) - t0 ))
metrics=$(curl -s "http://127.0.0.1:$port/metrics")
captured=$(awk '/^pgvitals_plan_captures_total\{.*result="captured"/ {s+=$NF} END {print s+0}' <<< "$metrics")
failed=$(awk '/^pgvitals_plan_captures_total\{.*result="failed"/ {s+=$NF} END {print s+0}' <<< "$metrics")
suggestions=$(grep -c '^pgvitals_statement_index_suggestion{' <<< "$metrics" || true)
read -r entries calls ms < <(sql -d bench -F ' ' -c "
  select count(*), coalesce(sum(s.calls), 0), round(coalesce(sum(s.total_exec_time), 0)::numeric, 1)
  from pg_stat_statements s join pg_roles r on r.oid = s.userid
  where r.rolname = 'monitor'
    and (s.query ~ '^(EXPLAIN|PREPARE|DEALLOCATE|BEGIN|SET|ROLLBACK) /\* pgvitals \*/'
         or s.query ~ '^SELECT /\* pgvitals \*/ .*hypopg')")
awk -v m="$elapsed" -v c="$captured" -v f="$failed" -v s="$suggestions" -v e="$entries" -v n="$calls" -v ms="$ms" 'BEGIN {
  printf "large fixture, %.1f min: plans captured %d, failed %d (%.1f per minute); suggestions exported %d\n", m/60, c, f, (c+f)*60/m, s
  printf "plan capture DB time: %.1f ms in %d statements (%d entries) = %.1f ms per minute, %.2f ms per plan\n", ms, n, e, ms*60/m, ((c+f) > 0 ? ms/(c+f) : 0)
}'
