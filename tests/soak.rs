//! A bounded soak: 10,000 polls over two targets (one through a fault-injecting proxy) with a
//! fault every 300 polls — network cut, stall, sessions killed, statistics reset. Throughout,
//! the `application_name=pgvitals` sessions in pg_stat_activity never exceed the configured
//! pools plus one probe per target; at the end every collector recovers, and the process'
//! open file descriptors are back where they were. Figures are printed for the record.

mod common;

use std::time::{Duration, Instant};

use common::proxy::{Mode, Proxy};
use common::*;
use pgvitals::config::Config;
use pgvitals::daemon::Daemon;

const POLLS: f64 = 10_000.0;
const FAULT_EVERY: f64 = 300.0;
const POOL_SIZE: usize = 2;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap_or_else(|e| panic!("reading /proc/self/fd: {e}"))
        .count()
}

fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm")
        .unwrap_or_else(|e| panic!("reading /proc/self/statm: {e}"));
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no resident page count in /proc/self/statm: `{statm}`"));
    pages * 4096.0 / (1024.0 * 1024.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_polls_with_faults_leak_nothing() {
    let cluster = shared_cluster();
    let dbs: Vec<String> = soak_databases(cluster).await;
    let proxy = Proxy::start(format!("127.0.0.1:{}", cluster.port()).parse().unwrap()).await;
    let every = [
        "connection",
        "statements",
        "indexes",
        "migrations",
        "table_sizes",
    ]
    .iter()
    .map(|c| format!("  {c}: {{interval: 100ms, timeout: 1s}}\n"))
    .collect::<String>();
    let list = dbs.join(", ");
    let yaml = format!(
        "listen: 127.0.0.1:0\ntargets:\n  - name: proxied\n    dsn: \"postgresql://{MONITOR_ROLE}@127.0.0.1:{}/postgres?sslmode=disable\"\n    databases: [{list}]\n  - name: direct\n    dsn: \"postgresql://{MONITOR_ROLE}@127.0.0.1:{}/postgres?sslmode=disable\"\n    databases: [{list}]\nconnections:\n  pool_size: {POOL_SIZE}\n  connect_timeout: 1s\n  acquire_timeout: 1s\ncollectors:\n{every}alerts:\n  evaluation_interval: 1s\n",
        proxy.addr().port(),
        cluster.port()
    );
    let daemon = Daemon::start(Config::parse(&yaml, "<soak>").unwrap_or_else(|e| panic!("{e}")))
        .await
        .unwrap();
    wait_ready(&daemon).await;
    // Per target: a pool per polled database plus the one cluster-wide collectors use, and
    // the probe's own connection.
    let bound = 2 * ((dbs.len() + 1) * POOL_SIZE + 1);
    let admin = connect(&cluster.dsn("postgres", "postgres")).await;
    let sessions = || async {
        admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgvitals'",
                &[],
            )
            .await
            .unwrap()
            .get::<_, i64>(0) as usize
    };
    let polls = |m: &Metrics| -> f64 {
        m.all("pgvitals_collector_polls_total", &[])
            .iter()
            .map(|(_, v)| v)
            .sum()
    };
    let started = Instant::now();
    let warm = wait_for(&daemon, Duration::from_secs(60), "warm-up polls", |m| {
        polls(m) >= 500.0
    })
    .await;
    let (fds_start, rss_start) = (open_fds(), rss_mib());
    let mut next_fault = polls(&warm) + FAULT_EVERY;
    let (mut faults, mut max_sessions, mut samples) = (0, 0, 0);
    let mut ticker = tokio::time::interval(Duration::from_millis(200));
    loop {
        ticker.tick().await;
        let s = sessions().await;
        max_sessions = max_sessions.max(s);
        samples += 1;
        assert!(
            s <= bound,
            "{s} pgvitals sessions, more than the {bound} configured"
        );
        let m = scrape(daemon.addr()).await;
        let done = polls(&m);
        if done >= POLLS {
            break;
        }
        if done >= next_fault {
            next_fault = done + FAULT_EVERY;
            match faults % 4 {
                0 => {
                    proxy.set(Mode::Down);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    proxy.set(Mode::Pass);
                }
                1 => {
                    proxy.set(Mode::Stall);
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                    proxy.set(Mode::Pass);
                }
                2 => {
                    admin
                        .batch_execute(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pgvitals'",
                        )
                        .await
                        .unwrap();
                }
                _ => admin.batch_execute("SELECT pg_stat_reset()").await.unwrap(),
            }
            faults += 1;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "10,000 polls did not happen within 10 minutes ({done} so far)"
        );
    }
    proxy.set(Mode::Pass);
    let end = wait_for(
        &daemon,
        Duration::from_secs(60),
        "every collector back",
        |m| {
            m.all("pgvitals_up", &[]).iter().all(|(_, v)| *v == 1.0)
                && m.all("pgvitals_collector_success", &[])
                    .iter()
                    .all(|(_, v)| *v == 1.0)
        },
    )
    .await;
    let (fds_end, rss_end) = (open_fds(), rss_mib());
    println!(
        "soak: {:.0} polls in {:.0?}, {faults} faults, sessions max {max_sessions} (bound {bound}, {samples} samples), fds {fds_start} -> {fds_end}, RSS {rss_start:.1} -> {rss_end:.1} MiB (test process, daemon in it)",
        polls(&end),
        started.elapsed()
    );
    assert!(faults >= 20, "{faults} faults injected");
    assert!(
        fds_end <= fds_start + 8,
        "file descriptors grew from {fds_start} to {fds_end}"
    );
    daemon.shutdown().await;
}

async fn soak_databases(cluster: &pgvitals::pgcluster::Cluster) -> Vec<String> {
    let mut out = Vec::new();
    for p in ["soak_a", "soak_b", "soak_c"] {
        out.push(fresh_database(cluster, p).await);
    }
    out
}
