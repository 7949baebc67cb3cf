#!/usr/bin/env bash
# Plan capture's database cost at its defaults: pgvitals (release, default config) watching the
# large fixture of ../shared/bench while the fixture's workload (5,000 statements over 5,000
# tables, SELECTs and UPDATEs) runs again and again, for MINUTES (default 5). ACCESS says how the
# monitoring role may plan the statements:
#   read_all_data  pg_read_all_data (14+): it reads every table, so its SELECTs are planned and
#                  its UPDATEs fail with "permission denied" (EXPLAIN checks the UPDATE privilege)
#   helper         queries/explain_helper.sql installed by the tables' owner: every statement is
#                  planned, DML included, through pgvitals.explain_generic (SECURITY DEFINER)
# Prints the plans captured and failed, and the database time pgvitals spent capturing them per
# minute: its EXPLAIN entries and the PREPARE/BEGIN/SET/ROLLBACK/DEALLOCATE around them, or the
# helper's calls, in pg_stat_statements, and hypopg calls.
# usage: bench/plans.sh [MINUTES] [read_all_data|helper]
set -euo pipefail
source "$(dirname "$0")/common.sh"
minutes=${1:-5}; access=${2:-read_all_data}
build; workdir plans; start_fixture large
sql() { psql -X -q -At -h 127.0.0.1 -p "$pgport" -U postgres "$@"; }
case $access in
  read_all_data) sql -c "grant pg_read_all_data to monitor" ;;
  helper) sql -d bench -v ON_ERROR_STOP=1 -v monitor=monitor -f "$repo/queries/explain_helper.sql" >/dev/null ;;
  *) echo "bench/plans.sh: ACCESS is read_all_data or helper, not '$access'" >&2; exit 2 ;;
esac
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
         or s.query ~ '^SELECT /\* pgvitals \*/ .*(hypopg|explain_generic)')")
# What was planned, by the first word of the statement (every statement with a captured plan in
# pgvitals_statement_plan_info), and the commonest failures among the statements listed.
read -r planned failures < <(python3 - "$port" <<'PY'
import collections, json, re, sys, urllib.error, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}"
fetch = lambda path: urllib.request.urlopen(base + path).read().decode()
def get(path):
    try:
        return json.loads(fetch(path))
    except urllib.error.HTTPError:  # a statement no longer in the history
        return {}
planned, failed = collections.Counter(), collections.Counter()
ids = set(re.findall(r'^pgvitals_statement_plan_info\{[^}]*queryid="([^"]+)"', fetch("/metrics"), re.M))
for q in ids:
    d = get(f"/statements/{q}?target=plans&window=1h")
    planned[(d.get("query") or "unlisted").split()[0].upper()] += 1
for t in get("/statements?window=1h").get("targets", []):
    for s in t["statements"]:
        d = get(f"/statements/{s['queryid']}?target={t['target']}&window=1h")
        if not d.get("plan") and d.get("plan_error"):
            failed[d["plan_error"].split(" for ")[0]] += 1
print(",".join(f"{w}:{n}" for w, n in planned.most_common()) or "none",
      ",".join(f"{e.replace(' ', '_')}:{n}" for e, n in failed.most_common(3)) or "none")
PY
)
awk -v m="$elapsed" -v c="$captured" -v f="$failed" -v s="$suggestions" -v e="$entries" -v n="$calls" -v ms="$ms" -v a="$access" -v k="$planned" -v r="$failures" 'BEGIN {
  printf "large fixture, %s, %.1f min: plans captured %d, failed %d (%.1f per minute); suggestions exported %d\n", a, m/60, c, f, (c+f)*60/m, s
  printf "plans by first word of the statement: %s; failing among those listed: %s\n", k, r
  printf "plan capture DB time: %.1f ms in %d statements (%d entries) = %.1f ms per minute, %.2f ms per plan\n", ms, n, e, ms*60/m, ((c+f) > 0 ? ms/(c+f) : 0)
}'
