#!/usr/bin/env python3
"""Database time and series of one pgvitals collector, measured per poll.

usage: poll_cost.py --bin PGVITALS --dsn DSN --pgport PGPORT --collector NAME|none
                    [--also "findings_interval: 1s"] [--seconds 15] [--role monitor]

Runs pgvitals with only NAME enabled, polling every second (`none`: every collector off, which
gives the daemon's own series; --also adds settings of the collector, e.g. a sub-schedule on
every poll), waits for its first two polls (the first may do one-off work), then counts the
execution time the monitoring role spends in pg_stat_statements and the polls pgvitals reports
(`pgvitals_collector_polls_total`) over --seconds. Prints one JSON object:
  db_ms_per_poll   database time over the window / polls in the window
  polls            polls in the window (fewer than seconds when a poll takes over 1 s)
  poll_s_last      pgvitals_collector_duration_seconds at the end
  series           sample lines of /metrics at the end
  errors           pgvitals_collector_errors_total at the end
The default interval of the collector, for its cost per minute, comes from `pgvitals
check-config` of the same file with the collector's interval left out. Traffic stays on 127.0.0.1.
"""
import argparse, json, os, re, signal, socket, subprocess, sys, tempfile, time, urllib.request

COLLECTORS = ["connection", "statements", "indexes", "migrations", "table_sizes", "plans",
              "database", "wraparound", "vacuum", "sequences", "replication", "checkpoints", "bloat", "standards"]


def psql(port, sql):
    return subprocess.run(["psql", "-X", "-Atq", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                           "-d", "postgres", "-c", sql], capture_output=True, text=True, check=True).stdout.strip()


def db_ms(port, role):
    return float(psql(port, "select coalesce(sum(total_exec_time),0) from pg_stat_statements s "
                            f"join pg_roles r on r.oid = s.userid where r.rolname = '{role}'") or 0)


def scrape(url):
    return urllib.request.urlopen(url, timeout=30).read().decode()


def sample(body, name, collector):
    for line in body.splitlines():
        if line.startswith(name + "{") and f'collector="{collector}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return None


def config(port, dsn, collector, interval, also=""):
    lines = [f'listen: "127.0.0.1:{port}"', f'targets: [{{name: bench, dsn: "{dsn}"}}]', "collectors:"]
    for c in COLLECTORS:
        if c != collector:
            lines.append(f"  {c}: {{ enabled: false }}")
        elif interval:
            lines.append(f"  {c}: {{ interval: {interval}{', ' + also if also else ''} }}")
    return "\n".join(lines) + "\n"


def default_interval(binary, path, collector):
    """Seconds between polls of the collector at its default interval (from check-config)."""
    out = subprocess.run([binary, "check-config", path], capture_output=True, text=True, check=True).stdout
    m = re.search(rf"^  {collector}:\n(?:    .*\n)*?    interval: (\d+)(ms|s|m|h)$", out, re.M)
    value, unit = int(m.group(1)), m.group(2)
    return value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True); ap.add_argument("--dsn", required=True)
    ap.add_argument("--pgport", type=int, required=True); ap.add_argument("--collector", required=True)
    ap.add_argument("--seconds", type=float, default=15); ap.add_argument("--role", default="monitor")
    ap.add_argument("--also", default="")
    a = ap.parse_args()
    psql(a.pgport, "create extension if not exists pg_stat_statements")
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    url = f"http://127.0.0.1:{port}/metrics"
    tmp = tempfile.mkdtemp(prefix="pgvitals-poll-")
    path = os.path.join(tmp, "config.yaml")
    result = {"collector": a.collector, "also": a.also}
    if a.collector != "none":
        open(path, "w").write(config(port, a.dsn, a.collector, None))
        result["default_interval_s"] = default_interval(a.bin, path, a.collector)
    open(path, "w").write(config(port, a.dsn, a.collector, "1s", a.also))
    log = open(os.path.join(tmp, "pgvitals.log"), "w")
    proc = subprocess.Popen([a.bin, "run", "--config", path], stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.time() + 120
        polls = lambda b: sample(b, "pgvitals_collector_polls_total", a.collector) or 0
        while True:
            try:
                body = scrape(url)
                if a.collector == "none" or polls(body) >= 2:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                sys.exit(f"{a.collector}: no second poll in 120 s; see {log.name}")
            time.sleep(0.2)
        db0, p0 = db_ms(a.pgport, a.role), polls(body)
        time.sleep(a.seconds)
        db1, body = db_ms(a.pgport, a.role), scrape(url)
        p1 = polls(body)
        result.update({
            "polls": p1 - p0,
            "db_ms_per_poll": round((db1 - db0) / (p1 - p0), 2) if p1 > p0 else None,
            "db_ms_window": round(db1 - db0, 2),
            "poll_s_last": sample(body, "pgvitals_collector_duration_seconds", a.collector),
            "errors": sample(body, "pgvitals_collector_errors_total", a.collector),
            "series": sum(1 for l in body.splitlines() if l and not l.startswith("#")),
        })
        print(json.dumps(result))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
