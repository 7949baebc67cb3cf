#!/usr/bin/env bash
# Memory soak: pgvitals (release, default settings) against the large fixture of
# ../shared/bench while a workload keeps creating statements pg_stat_statements has never seen
# (IN lists of growing length over 5,000 tables), so entries are evicted and replaced all along.
# Samples pgvitals' RSS every 30 s; prints the curve and the growth over the first poll's.
# usage: bench/soak.sh [MINUTES]   (default 30)
set -euo pipefail
source "$(dirname "$0")/common.sh"
minutes=${1:-30}
build; workdir soak; start_fixture large
cat > "$out/config.yaml" <<YAML
listen: "127.0.0.1:$port"
targets: [{name: soak, dsn: "$dsn"}]
YAML
start_pgvitals
# The workload: new statement shapes forever.
python3 - "$pgport" > /dev/null 2>&1 <<'PY' &
import subprocess, sys
port = sys.argv[1]
n = 0
while True:
    stmts = []
    for _ in range(200):
        n += 1
        t = n % 5000 + 1
        ids = ",".join(str(i) for i in range(1, 2 + n % 300))
        stmts.append(f"select id from t{t} where id in ({ids}) and k >= {n % 7};")
    subprocess.run(["psql", "-X", "-q", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", "bench"],
                   input="\n".join(stmts), text=True, capture_output=True)
PY
pids+=("$!")
echo "minute rss_mib series" | tee "$out/curve.txt"
samples=$((minutes * 2))
for i in $(seq 0 "$samples"); do
  rss=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$pid/status")
  series=$(curl -s "http://127.0.0.1:$port/metrics" | grep -vc '^#' || true)
  echo "$(awk "BEGIN {print $i/2}") $rss $series" | tee -a "$out/curve.txt"
  [ "$i" -lt "$samples" ] && sleep 30
done
python3 - "$out/curve.txt" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]).read().splitlines()[1:]]
rss = [float(r[1]) for r in rows]
base = rss[2] if len(rss) > 2 else rss[0]   # after the first polls (1 min)
print(f"RSS after the first polls {base:.1f} MiB, peak {max(rss):.1f} MiB, last {rss[-1]:.1f} MiB, "
      f"growth {100 * (max(rss[2:] or rss) / base - 1):+.1f} %")
PY
