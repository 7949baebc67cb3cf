//! `pgvitals demo`: a throwaway PostgreSQL with a small workload, watched by pgvitals.
//!
//! Starts a [`Cluster`], creates a `demo` database with a few tables and a `pgvitals_monitor`
//! role (member of `pg_monitor`, as the README tells users to set up, with SELECT on the demo
//! tables so their plans can be captured), runs a light background workload (lookups, inserts,
//! updates, and a report that scans a million orders by customer: slow enough to fire
//! `SlowQuery` at the demo's 50 ms, with an index to suggest) and serves the console and metrics until Ctrl-C. The
//! demo schema breaks a standard or two (an unindexed foreign key, a table without
//! `updated_at`) so `/ui/findings` has something to show. Statements are polled every 5 s and
//! `SlowQuery` fires after 30 s, so a firing alert with its plan and suggestion shows within
//! two minutes. The cluster is removed on exit.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tokio_postgres::NoTls;
use tracing::{info, warn};

use crate::config::Config;
use crate::daemon::{wait_for_signal, Daemon};
use crate::pgcluster::Cluster;

const SETUP_SQL: &str = "
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers(id),
                     amount numeric(12,2) NOT NULL, note text, created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX orders_created_at ON orders (created_at);
INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 5000) g;
INSERT INTO orders (customer_id, amount, note)
    SELECT 1 + g % 5000, (g % 997) / 10.0, repeat('x', g % 300) FROM generate_series(1, 1000000) g;
ANALYZE;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO pgvitals_monitor;
GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO pgvitals_monitor;
";

/// Faster than the defaults, so the demo shows a firing alert within two minutes, and a slow
/// query at 50 ms rather than 100 ms, so the report's scan of a million rows is slow on any
/// machine.
const DEMO_SETTINGS: &str = "collectors:
  statements: {interval: 5s}
  indexes: {interval: 15s}
thresholds:
  slow_query: 50ms
alerts:
  evaluation_interval: 5s
  builtin:
    SlowQuery: {for: 30s}
";

/// Runs the demo until SIGINT/SIGTERM. `listen` overrides the default listen address.
pub async fn run(listen: Option<SocketAddr>) -> anyhow::Result<()> {
    info!("starting a throwaway PostgreSQL cluster");
    let cluster = tokio::task::spawn_blocking(|| Cluster::start(&[]))
        .await?
        .context("starting the demo PostgreSQL cluster")?;
    info!(port = cluster.port(), dir = %cluster.dir().display(), bin = %cluster.bin().display(), "PostgreSQL is up");

    let (admin, conn) =
        tokio_postgres::connect(&cluster.dsn("postgres", "postgres"), NoTls).await?;
    tokio::spawn(conn);
    for sql in [
        "CREATE DATABASE demo",
        "CREATE ROLE pgvitals_monitor LOGIN",
        "GRANT pg_monitor TO pgvitals_monitor",
    ] {
        admin
            .batch_execute(sql)
            .await
            .with_context(|| sql.to_string())?;
    }
    let (app, conn) = tokio_postgres::connect(&cluster.dsn("postgres", "demo"), NoTls).await?;
    tokio::spawn(conn);
    app.batch_execute("CREATE EXTENSION pg_stat_statements")
        .await?;
    app.batch_execute(SETUP_SQL)
        .await
        .context("loading demo data")?;
    // One worker per query, like an application server's: the report's scan stays slow.
    app.batch_execute("SET max_parallel_workers_per_gather = 0")
        .await?;
    let workload = tokio::spawn(workload(app));

    let yaml = format!(
        "targets:\n  - name: demo\n    dsn: \"{}\"\n{DEMO_SETTINGS}",
        cluster.dsn("pgvitals_monitor", "demo")
    );
    let mut config = Config::parse(&yaml, "<demo>")?;
    if let Some(listen) = listen {
        config.listen = listen;
    }
    let daemon = Daemon::start(config).await?;
    info!(
        "demo ready: open the console at http://{}/ (metrics: /metrics; Ctrl-C stops and removes the cluster)",
        daemon.addr()
    );
    wait_for_signal().await;
    workload.abort();
    daemon.shutdown().await;
    tokio::task::spawn_blocking(move || drop(cluster)).await?;
    info!("demo cluster removed");
    Ok(())
}

/// A light, steady load: indexed lookups, inserts, updates and now and then a slow scan.
async fn workload(client: tokio_postgres::Client) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut n: i64 = 0;
    loop {
        tick.tick().await;
        n += 1;
        let customer = (n * 7919 % 5000 + 1) as i32;
        let r = async {
            client
                .query("SELECT id, amount FROM orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 10", &[&customer])
                .await?;
            client
                .execute("INSERT INTO orders (customer_id, amount) VALUES ($1, 9.99)", &[&customer])
                .await?;
            client
                .execute("UPDATE customers SET name = name WHERE id = $1", &[&customer])
                .await?;
            if n % 20 == 0 {
                client
                    .query("SELECT count(*), sum(amount) FROM orders WHERE customer_id = $1", &[&customer])
                    .await?;
            }
            Ok::<_, tokio_postgres::Error>(())
        }
        .await;
        if let Err(e) = r {
            warn!(error = %e, "demo workload query failed");
        }
    }
}
