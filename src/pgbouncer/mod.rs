//! PgBouncer poolers, watched through their admin console: how long the application waits for
//! a connection where it actually waits, in the pool.
//!
//! One task per `pgbouncers:` entry keeps one admin-console session (no pool: PgBouncer's
//! console is one cheap session, and it takes neither the extended protocol nor the startup
//! options pgvitals sets on PostgreSQL sessions) and reads it every `collectors.pgbouncer`
//! interval ([`admin`]), publishing what it read ([`families`]) under the PgBouncer's name as
//! `target`. A PgBouncer that does not answer or refuses the login is
//! `pgvitals_pgbouncer_up 0` and one log line per distinct reason, never a crash, and never
//! anything that touches the PostgreSQL targets; it is tried again every interval, so a
//! restarted PgBouncer is back without restarting pgvitals.

pub mod admin;
pub mod families;

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::config::{Config, IntervalConfig, ResolvedPgBouncer};
use crate::db;
use crate::metrics::Family;
use crate::scheduler::Changes;
use crate::snapshot::{Snapshot, SourceKey};

/// The `collector` label of PgBouncer polls in pgvitals' own metrics.
pub const COLLECTOR: &str = "pgbouncer";

/// The running PgBouncer tasks. [`PgBouncers::apply`] starts, stops and restarts them on a
/// reload, leaving the unchanged ones alone.
pub struct PgBouncers {
    snapshot: Arc<Snapshot>,
    settings: Settings,
    running: BTreeMap<String, Running>,
}

/// What every PgBouncer task of one configuration shares.
#[derive(Clone, PartialEq)]
struct Settings {
    poll: IntervalConfig,
    connect_timeout: Duration,
}

impl Settings {
    fn new(config: &Config) -> Settings {
        Settings {
            poll: config.collectors.pgbouncer.clone(),
            connect_timeout: config.connections.connect_timeout.0,
        }
    }
}

struct Running {
    fingerprint: u64,
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

/// Identifies what a PgBouncer task connects to (password included).
fn fingerprint(b: &ResolvedPgBouncer) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    format!("{:?}", b.pg.get_hosts()).hash(&mut h);
    b.pg.get_ports().hash(&mut h);
    b.pg.get_user().hash(&mut h);
    b.pg.get_password().hash(&mut h);
    b.pg.get_dbname().hash(&mut h);
    b.tls.hash(&mut h);
    h.finish()
}

impl PgBouncers {
    /// Starts one task per PgBouncer (none when `collectors.pgbouncer` is off).
    pub fn start(
        config: &Config,
        bouncers: Vec<ResolvedPgBouncer>,
        snapshot: Arc<Snapshot>,
    ) -> PgBouncers {
        let mut p = PgBouncers {
            snapshot,
            settings: Settings::new(config),
            running: BTreeMap::new(),
        };
        for b in bouncers {
            p.start_one(b);
        }
        p
    }

    fn start_one(&mut self, bouncer: ResolvedPgBouncer) {
        if !self.settings.poll.enabled {
            return;
        }
        self.snapshot.expect_target(&bouncer.name);
        let (stop, shutdown) = watch::channel(false);
        let name = bouncer.name.clone();
        let fingerprint = fingerprint(&bouncer);
        let task = Task {
            tls: db::tls_connector(&bouncer.tls).map_err(|e| format!("TLS settings: {e:#}")),
            bouncer,
            settings: self.settings.clone(),
            snapshot: self.snapshot.clone(),
        };
        let handle = tokio::spawn(task.run(shutdown));
        self.running.insert(
            name,
            Running {
                fingerprint,
                stop,
                handle,
            },
        );
    }

    async fn stop_one(&mut self, name: &str) {
        if let Some(r) = self.running.remove(name) {
            let _ = r.stop.send(true);
            let _ = r.handle.await;
            self.snapshot.remove_target(name);
            let t = self.snapshot.telemetry();
            t.forget_collector(name, "", COLLECTOR);
        }
    }

    /// Applies a reloaded configuration: new PgBouncers start, removed ones stop (their series
    /// go), changed ones restart; all restart when the poll settings changed.
    pub async fn apply(&mut self, config: &Config, bouncers: Vec<ResolvedPgBouncer>) -> Changes {
        let mut changes = Changes::default();
        let settings = Settings::new(config);
        let restart_all = settings != self.settings;
        self.settings = settings;
        let wanted: BTreeMap<String, ResolvedPgBouncer> =
            bouncers.into_iter().map(|b| (b.name.clone(), b)).collect();
        let gone: Vec<String> = self
            .running
            .keys()
            .filter(|n| !wanted.contains_key(*n))
            .cloned()
            .collect();
        for name in gone {
            info!(target_name = %name, "pgbouncer removed from the configuration; stopping it");
            self.stop_one(&name).await;
            changes.removed.push(name);
        }
        for (name, b) in wanted {
            match self.running.get(&name) {
                Some(r) if !restart_all && r.fingerprint == fingerprint(&b) => {}
                Some(_) => {
                    self.stop_one(&name).await;
                    self.start_one(b);
                    changes.restarted.push(name);
                }
                None => {
                    self.start_one(b);
                    changes.added.push(name);
                }
            }
        }
        changes
    }

    /// Stops every task.
    pub async fn stop(mut self) {
        for r in self.running.values() {
            let _ = r.stop.send(true);
        }
        for (_, r) in std::mem::take(&mut self.running) {
            let _ = r.handle.await;
        }
    }
}

/// One PgBouncer's poll loop.
struct Task {
    bouncer: ResolvedPgBouncer,
    tls: Result<db::Tls, String>,
    settings: Settings,
    snapshot: Arc<Snapshot>,
}

impl Task {
    async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let name = self.bouncer.name.clone();
        let key = SourceKey {
            target: name.clone(),
            database: String::new(),
            collector: COLLECTOR,
        };
        let telemetry = self.snapshot.telemetry().clone();
        let labels = [name.as_str(), "", COLLECTOR];
        telemetry.init_collector(&name, "", COLLECTOR);
        let mut session: Option<tokio_postgres::Client> = None;
        let mut baseline = families::Baseline::default();
        let mut last_error: Option<String> = None;
        let mut ticker = tokio::time::interval(self.settings.poll.interval.0);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = shutdown.changed() => break,
            }
            telemetry.collector_polls.inc(labels);
            let started = Instant::now();
            let read = tokio::time::timeout(self.settings.poll.timeout.0, self.read(&mut session))
                .await
                .unwrap_or_else(|_| {
                    Err(format!(
                        "poll exceeded its timeout of {:?}",
                        self.settings.poll.timeout.0
                    ))
                });
            let up = Family::gauge(
                "pgvitals_pgbouncer_up",
                "1 if PgBouncer's admin console answered the last poll, else 0 (the log says why).",
            );
            let source = [("target", name.as_str())];
            match read {
                Ok(reading) => {
                    let mut out = vec![up.with([], 1.0)];
                    out.extend(families::families(&reading, &mut baseline));
                    self.snapshot.publish(key.clone(), &source, out.into());
                    telemetry.collector_success.set(labels, 1.0);
                    telemetry
                        .collector_last_success
                        .set(labels, crate::clock::now());
                    if last_error.take().is_some() {
                        info!(target_name = %name, "pgbouncer answers again");
                    }
                }
                Err(msg) => {
                    session = None;
                    baseline.clear();
                    self.snapshot
                        .publish(key.clone(), &source, vec![up.with([], 0.0)].into());
                    telemetry.collector_errors.inc(labels);
                    telemetry.collector_success.set(labels, 0.0);
                    if last_error.as_deref() != Some(msg.as_str()) {
                        warn!(target_name = %name, error = %msg, "pgbouncer poll failed");
                    } else {
                        debug!(target_name = %name, error = %msg, "pgbouncer poll still failing");
                    }
                    last_error = Some(msg);
                }
            }
            telemetry
                .collector_duration
                .set(labels, started.elapsed().as_secs_f64());
            self.snapshot.set_ready(&name);
        }
    }

    /// Reads the console, connecting first when there is no session.
    async fn read(
        &self,
        session: &mut Option<tokio_postgres::Client>,
    ) -> Result<admin::Reading, String> {
        if session.as_ref().is_none_or(|c| c.is_closed()) {
            *session = Some(self.connect().await?);
        }
        let client = session.as_ref().expect("just connected");
        admin::read(client).await.map_err(|e| {
            format!(
                "reading the admin console of {}: {}",
                db::describe(&self.bouncer.pg),
                db::error_chain(&e)
            )
        })
    }

    async fn connect(&self) -> Result<tokio_postgres::Client, String> {
        let tls = self.tls.clone()?;
        let mut pg = self.bouncer.pg.clone();
        pg.application_name("pgvitals");
        let timeout = *pg
            .get_connect_timeout()
            .unwrap_or(&self.settings.connect_timeout);
        let what = db::describe(&pg);
        let (client, connection) = tokio::time::timeout(timeout, pg.connect(tls))
            .await
            .map_err(|_| format!("connecting to {what} timed out after {timeout:?}"))?
            .map_err(|e| format!("cannot connect to {what}: {}", db::error_chain(&e)))?;
        tokio::spawn(connection);
        Ok(client)
    }
}
