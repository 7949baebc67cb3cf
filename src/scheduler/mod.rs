//! The scheduler: one supervisor task per target, one loop per (target, database, collector).
//!
//! A target's supervisor probes the server (fresh connection + `queries/probe.sql`) on the
//! `connection` collector's interval, sets `pgvitals_up`, and when the server answers, starts the
//! collector loops for the databases to poll (re-listing them on every probe for
//! `databases: auto`). While the server does not answer it probes again after 1 s, 2 s, 4 s …
//! up to the interval, and the collector loops skip their ticks (counted, reason `target_down`)
//! instead of piling connection attempts onto a struggling server.
//!
//! Each collector loop ticks on its own interval, starting after a random offset so collectors
//! do not all hit the server at once. A tick that comes while the previous poll is still running
//! is skipped and counted (reason `busy`); a poll has a deadline, past which its query is
//! cancelled on the server. A poll's result replaces the collector's previous one in the
//! snapshot; a failed poll removes it, so no stale number is served as current.

mod owners;

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use crate::collectors::{Collector, Output, PollContext, Scope, Spec, TargetContext};
use crate::config::{Config, ConnectionsConfig, Databases, ResolvedTarget};
use crate::db;
use crate::metrics::Family;
use crate::queries;
use crate::snapshot::{Snapshot, SourceKey};
use owners::DatabaseOwners;

/// How long in-flight polls get to finish at shutdown before they are cancelled.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The running supervisors, one per target. [`Scheduler::apply`] starts, stops and restarts
/// them when the configuration is reloaded, leaving the unchanged ones alone (their pools,
/// their statement deltas, their alert states).
pub struct Scheduler {
    snapshot: Arc<Snapshot>,
    shared: Shared,
    running: BTreeMap<String, Running>,
    /// Who reports each database's rows of the cluster-wide views.
    owners: Arc<DatabaseOwners>,
}

/// What every supervisor of one configuration shares.
#[derive(Clone)]
struct Shared {
    permits: Arc<Semaphore>,
    specs: Arc<Vec<Arc<Spec>>>,
    connections: ConnectionsConfig,
    probe_interval: Duration,
    collectors: crate::config::CollectorsConfig,
    /// Identifies the settings above: a change restarts every target.
    fingerprint: u64,
}

impl Shared {
    fn new(config: &Config) -> Shared {
        Shared {
            permits: Arc::new(Semaphore::new(config.max_concurrent_polls)),
            specs: Arc::new(
                crate::collectors::registry(
                    &config.collectors,
                    &config.thresholds,
                    &config.standards,
                )
                .into_iter()
                .map(Arc::new)
                .collect(),
            ),
            connections: config.connections.clone(),
            probe_interval: config.collectors.connection.interval.0,
            collectors: config.collectors.clone(),
            fingerprint: settings_fingerprint(config),
        }
    }
}

fn settings_fingerprint(config: &Config) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for part in [
        serde_yaml_ng::to_string(&config.collectors),
        serde_yaml_ng::to_string(&config.connections),
        serde_yaml_ng::to_string(&config.thresholds.query_latency),
        serde_yaml_ng::to_string(&config.thresholds.slow_query),
        serde_yaml_ng::to_string(&config.thresholds.query_regression),
        serde_yaml_ng::to_string(&config.standards),
    ] {
        part.unwrap_or_default().hash(&mut h);
    }
    config.max_concurrent_polls.hash(&mut h);
    h.finish()
}

/// Identifies what a target connects to and polls (password included): a change restarts it.
fn target_fingerprint(t: &ResolvedTarget) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    format!("{:?}", t.pg.get_hosts()).hash(&mut h);
    t.pg.get_ports().hash(&mut h);
    t.pg.get_user().hash(&mut h);
    t.pg.get_password().hash(&mut h);
    t.pg.get_dbname().hash(&mut h);
    t.pg.get_options().hash(&mut h);
    t.primary_database.hash(&mut h);
    format!("{:?}", t.databases).hash(&mut h);
    t.tls.hash(&mut h);
    h.finish()
}

struct Running {
    fingerprint: u64,
    stop: watch::Sender<bool>,
    removed: Arc<AtomicBool>,
    handle: JoinHandle<()>,
}

/// What a reload changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Targets started.
    pub added: Vec<String>,
    /// Targets stopped (their series removed).
    pub removed: Vec<String>,
    /// Targets restarted because their connection, databases or the collector settings changed.
    pub restarted: Vec<String>,
}

impl Changes {
    /// Adds what another part of the daemon changed on the same reload.
    pub fn extend(&mut self, other: Changes) {
        self.added.extend(other.added);
        self.removed.extend(other.removed);
        self.restarted.extend(other.restarted);
    }
}

impl Scheduler {
    /// Starts one supervisor per target of this daemon's shard (`targets` is every configured
    /// target, all shards: who reports which database's rows depends on all of them).
    pub fn start(
        config: &Config,
        targets: Vec<ResolvedTarget>,
        snapshot: Arc<Snapshot>,
    ) -> Scheduler {
        let mut s = Scheduler {
            snapshot,
            shared: Shared::new(config),
            running: BTreeMap::new(),
            owners: Arc::default(),
        };
        for t in s.own_share(config, targets) {
            s.start_target(t);
        }
        s
    }

    /// The targets this daemon polls: its shard's, or all. Records every target's claims first.
    fn own_share(&self, config: &Config, targets: Vec<ResolvedTarget>) -> Vec<ResolvedTarget> {
        self.owners.set(&targets);
        targets
            .into_iter()
            .filter(|t| config.owns(&t.name))
            .collect()
    }

    fn start_target(&mut self, target: ResolvedTarget) {
        self.snapshot.expect_target(&target.name);
        let (stop, shutdown) = watch::channel(false);
        let removed = Arc::new(AtomicBool::new(false));
        let name = target.name.clone();
        let fingerprint = target_fingerprint(&target);
        let sup = Supervisor {
            state: Arc::new(TargetState {
                tls: db::tls_connector(&target.tls).map_err(|e| format!("TLS settings: {e:#}")),
                server: owners::server_key(&target),
                owners: self.owners.clone(),
                target,
                up: AtomicBool::new(false),
                server_version: AtomicI32::new(0),
            }),
            connections: self.shared.connections.clone(),
            probe_interval: self.shared.probe_interval,
            context: TargetContext::new(&self.shared.collectors),
            specs: self.shared.specs.clone(),
            snapshot: self.snapshot.clone(),
            shutdown,
            permits: self.shared.permits.clone(),
            removed: removed.clone(),
        };
        let handle = tokio::spawn(sup.run());
        self.running.insert(
            name,
            Running {
                fingerprint,
                stop,
                removed,
                handle,
            },
        );
    }

    async fn stop_target(&mut self, name: &str, remove: bool) {
        if let Some(r) = self.running.remove(name) {
            r.removed.store(remove, Ordering::Relaxed);
            let _ = r.stop.send(true);
            let _ = r.handle.await;
        }
    }

    /// Applies a reloaded configuration or target list (`targets`: all shards, as in
    /// [`Scheduler::start`]): starts new targets, stops removed ones, restarts changed ones (all
    /// of them when collector, connection or concurrency settings changed); the others keep
    /// running untouched.
    pub async fn apply(&mut self, config: &Config, targets: Vec<ResolvedTarget>) -> Changes {
        let mut changes = Changes::default();
        let shared = Shared::new(config);
        let restart_all = shared.fingerprint != self.shared.fingerprint;
        if restart_all {
            self.shared = shared;
        }
        let wanted: BTreeMap<String, ResolvedTarget> = self
            .own_share(config, targets)
            .into_iter()
            .map(|t| (t.name.clone(), t))
            .collect();
        let gone: Vec<String> = self
            .running
            .keys()
            .filter(|n| !wanted.contains_key(*n))
            .cloned()
            .collect();
        for name in gone {
            info!(target_name = %name, "target removed from the configuration; stopping it");
            self.stop_target(&name, true).await;
            changes.removed.push(name);
        }
        for (name, t) in wanted {
            match self.running.get(&name) {
                Some(r) if !restart_all && r.fingerprint == target_fingerprint(&t) => {}
                Some(_) => {
                    info!(target_name = %name, "target settings changed; restarting it");
                    self.stop_target(&name, true).await;
                    self.start_target(t);
                    changes.restarted.push(name);
                }
                None => {
                    info!(target_name = %name, "target added to the configuration; starting it");
                    self.start_target(t);
                    changes.added.push(name);
                }
            }
        }
        changes
    }

    /// Stops every target (their in-flight polls get [`SHUTDOWN_GRACE`]).
    pub async fn stop(mut self) {
        for r in self.running.values() {
            let _ = r.stop.send(true);
        }
        for (_, r) in std::mem::take(&mut self.running) {
            let _ = r.handle.await;
        }
    }
}

/// What the collector loops of a target share.
struct TargetState {
    /// The TLS connector, or why it could not be built (then the target is down).
    tls: Result<db::Tls, String>,
    target: ResolvedTarget,
    /// [`owners::server_key`] of the target, and who reports which database's rows.
    server: String,
    owners: Arc<DatabaseOwners>,
    up: AtomicBool,
    server_version: AtomicI32,
}

struct Supervisor {
    state: Arc<TargetState>,
    connections: ConnectionsConfig,
    probe_interval: Duration,
    /// Shared by this target's collectors.
    context: TargetContext,
    specs: Arc<Vec<Arc<Spec>>>,
    snapshot: Arc<Snapshot>,
    shutdown: watch::Receiver<bool>,
    permits: Arc<Semaphore>,
    /// Set when the target leaves the configuration: its series go with it.
    removed: Arc<AtomicBool>,
}

/// The loops polling one database, and its pool.
struct DatabaseLoops {
    handles: Vec<(&'static str, JoinHandle<()>)>,
}

impl Supervisor {
    async fn run(mut self) {
        let name = self.state.target.name.clone();
        let primary = self.state.target.primary_database.clone();
        let probe_pg = db::session_config(&self.state.target, &primary, &self.connections);
        let telemetry = self.snapshot.telemetry().clone();
        let list_databases = self.state.target.databases == Databases::Auto;
        let mut loops: BTreeMap<String, DatabaseLoops> = BTreeMap::new();
        let mut backoff = Duration::from_secs(1);
        let mut first_probe = true;
        let mut last_error: Option<String> = None;
        let mut unsupported_logged = false;
        let mut role_checked = false;
        loop {
            let probed = match &self.state.tls {
                Ok(tls) => {
                    db::probe(
                        &probe_pg,
                        tls,
                        db::connect_deadline(&probe_pg),
                        list_databases,
                        !role_checked,
                    )
                    .await
                }
                Err(e) => Err(db::DbError::Connect {
                    what: db::describe(&probe_pg),
                    message: e.clone(),
                }),
            };
            let next = match probed {
                Ok(p) => {
                    telemetry.up.set([&name], 1.0);
                    telemetry
                        .acquisition
                        .observe([&name, &primary, "connect"], p.elapsed.as_secs_f64());
                    self.state
                        .server_version
                        .store(p.server_version, Ordering::Relaxed);
                    if !self.state.up.swap(true, Ordering::Relaxed) {
                        info!(target_name = %name, server_version = p.server_version, connect_ms = p.elapsed.as_millis() as u64, "target is up");
                    }
                    last_error = None;
                    backoff = Duration::from_secs(1);
                    if let Some(role) = &p.role {
                        role_checked = true;
                        if let Some(why) = role.shared_with_application() {
                            warn!(target_name = %name, role = %role.name, "the DSN's role {why}, so it is probably the application's role too: its statements are counted (pgvitals leaves out only its own), but a dedicated role is safer and sees the same: CREATE ROLE pgvitals_monitor LOGIN; GRANT pg_monitor TO pgvitals_monitor");
                        }
                    }
                    let supported = p.server_version >= queries::MIN_SERVER_VERSION;
                    telemetry
                        .server_supported
                        .set([&name], if supported { 1.0 } else { 0.0 });
                    if supported {
                        unsupported_logged = false;
                        let wanted = match &self.state.target.databases {
                            Databases::FromDsn => vec![primary.clone()],
                            Databases::List(l) => l.clone(),
                            Databases::Auto => p.databases.unwrap_or_default(),
                        };
                        let started = self.reconcile(&mut loops, &wanted);
                        if first_probe {
                            self.ready_when_polled(started);
                        }
                    } else {
                        if !unsupported_logged {
                            error!(target_name = %name, server_version = p.server_version, "PostgreSQL older than 13 is not supported; not polling this target");
                            unsupported_logged = true;
                        }
                        let all: Vec<String> = loops.keys().cloned().collect();
                        for db in all {
                            self.stop_database(&mut loops, &db);
                        }
                        if first_probe {
                            self.snapshot.set_ready(&name);
                        }
                    }
                    self.probe_interval
                }
                Err(e) => {
                    telemetry.up.set([&name], 0.0);
                    telemetry.probe_failures.inc([&name]);
                    self.state.up.store(false, Ordering::Relaxed);
                    let msg = e.to_string();
                    if last_error.as_deref() != Some(msg.as_str()) {
                        warn!(target_name = %name, error = %msg, "target is down; retrying with backoff");
                        last_error = Some(msg);
                    } else {
                        debug!(target_name = %name, error = %msg, "target still down");
                    }
                    if first_probe {
                        self.snapshot.set_ready(&name);
                    }
                    let wait = backoff;
                    backoff = (backoff * 2).min(self.probe_interval);
                    wait.min(self.probe_interval)
                }
            };
            first_probe = false;
            self.snapshot.bump();
            tokio::select! {
                _ = tokio::time::sleep(next) => {}
                _ = self.shutdown.changed() => break,
            }
            if *self.shutdown.borrow() {
                break;
            }
        }
        if self.removed.load(Ordering::Relaxed) {
            let all: Vec<String> = loops.keys().cloned().collect();
            for db in all {
                self.stop_database(&mut loops, &db);
            }
            telemetry.forget_target(&name);
            self.snapshot.remove_target(&name);
            return;
        }
        let handles: Vec<_> = loops
            .into_values()
            .flat_map(|l| l.handles.into_iter().map(|(_, h)| h))
            .collect();
        for h in handles {
            let _ = h.await;
        }
    }

    /// Starts loops for new databases and stops those of databases no longer wanted. Returns
    /// receivers that fire when each newly started loop has finished its first poll.
    fn reconcile(
        &self,
        loops: &mut BTreeMap<String, DatabaseLoops>,
        wanted: &[String],
    ) -> Vec<mpsc::Receiver<()>> {
        let name = &self.state.target.name;
        let primary = &self.state.target.primary_database;
        let gone: Vec<String> = loops
            .keys()
            .filter(|db| *db != primary && !wanted.contains(db))
            .cloned()
            .collect();
        for db in gone {
            self.stop_database(loops, &db);
        }
        let mut first_polls = Vec::new();
        let mut all: Vec<&String> = wanted.iter().collect();
        if !all.contains(&primary) {
            all.push(primary);
        }
        for db in all {
            if loops.contains_key(db) {
                continue;
            }
            let is_primary = db == primary;
            let polled = wanted.contains(db);
            let specs: Vec<Arc<Spec>> = self
                .specs
                .iter()
                .filter(|s| match s.scope {
                    Scope::Cluster => is_primary,
                    Scope::Database => polled,
                })
                .cloned()
                .collect();
            let Ok(tls) = self.state.tls.clone() else {
                continue;
            };
            let pool = db::pool(
                db::session_config(&self.state.target, db, &self.connections),
                &self.connections,
                tls,
            );
            let mut handles = Vec::new();
            for spec in specs {
                let (tx, rx) = mpsc::channel(1);
                first_polls.push(rx);
                let l = CollectorLoop {
                    key: SourceKey {
                        target: name.clone(),
                        database: db.clone(),
                        collector: spec.name,
                    },
                    collector: Some((spec.make)(&self.context)),
                    spec: spec.clone(),
                    state: self.state.clone(),
                    pool: pool.clone(),
                    snapshot: self.snapshot.clone(),
                    shutdown: self.shutdown.clone(),
                    permits: self.permits.clone(),
                    first_poll: Some(tx),
                    last_error: None,
                };
                handles.push((spec.name, tokio::spawn(l.run())));
            }
            loops.insert(db.clone(), DatabaseLoops { handles });
        }
        first_polls
    }

    /// Stops the collector loops of one database and forgets their series.
    fn stop_database(&self, loops: &mut BTreeMap<String, DatabaseLoops>, db: &str) {
        let name = &self.state.target.name;
        let telemetry = self.snapshot.telemetry();
        if let Some(l) = loops.remove(db) {
            info!(target_name = %name, database = %db, "database no longer polled");
            for (collector, h) in l.handles {
                h.abort();
                self.snapshot.remove(&SourceKey {
                    target: name.clone(),
                    database: db.to_string(),
                    collector,
                });
                telemetry.forget_collector(name, db, collector);
            }
            telemetry.forget_database(name, db);
        }
    }

    /// Marks the target ready once every loop started has finished (or skipped) one poll.
    fn ready_when_polled(&self, first_polls: Vec<mpsc::Receiver<()>>) {
        let snapshot = self.snapshot.clone();
        let name = self.state.target.name.clone();
        tokio::spawn(async move {
            for mut rx in first_polls {
                // A loop that ends before its first poll (shutdown) drops its sender: fine too.
                let _ = rx.recv().await;
            }
            snapshot.set_ready(&name);
            info!(target_name = %name, "target ready: every collector has polled once");
        });
    }
}

/// The schedule of one collector on one database.
struct CollectorLoop {
    key: SourceKey,
    collector: Option<Box<dyn Collector>>,
    spec: Arc<Spec>,
    state: Arc<TargetState>,
    pool: Pool,
    snapshot: Arc<Snapshot>,
    shutdown: watch::Receiver<bool>,
    permits: Arc<Semaphore>,
    first_poll: Option<mpsc::Sender<()>>,
    last_error: Option<String>,
}

/// What one poll came to.
enum PollOutcome {
    Published,
    TargetDown,
    Failed(String),
}

impl CollectorLoop {
    async fn run(mut self) {
        let k = &self.key;
        self.snapshot
            .telemetry()
            .init_collector(&k.target, &k.database, k.collector);
        let interval = self.spec.interval;
        let max_offset = (interval / 10).min(Duration::from_secs(5));
        let offset = max_offset.mul_f64(fastrand::f64());
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + offset, interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut inflight: Option<JoinHandle<(Box<dyn Collector>, PollOutcome)>> = None;
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    if inflight.is_some() {
                        self.count_skip("busy");
                        continue;
                    }
                    let Some(collector) = self.collector.take() else {
                        break; // an earlier poll panicked; finish() logged it
                    };
                    inflight = Some(tokio::spawn(poll(
                        collector,
                        self.key.clone(),
                        self.spec.clone(),
                        self.state.clone(),
                        self.pool.clone(),
                        self.snapshot.clone(),
                        self.permits.clone(),
                    )));
                }
                r = async { inflight.as_mut().expect("guarded by the condition").await }, if inflight.is_some() => {
                    inflight = None;
                    self.finish(r);
                }
                _ = self.shutdown.changed() => break,
            }
        }
        if let Some(mut h) = inflight {
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut h).await.is_err() {
                h.abort();
            }
        }
    }

    fn count_skip(&self, reason: &str) {
        let k = &self.key;
        self.snapshot.telemetry().collector_skipped.inc([
            &k.target,
            &k.database,
            k.collector,
            reason,
        ]);
        self.snapshot.bump();
    }

    fn finish(
        &mut self,
        joined: Result<(Box<dyn Collector>, PollOutcome), tokio::task::JoinError>,
    ) {
        let k = &self.key;
        match joined {
            Ok((collector, outcome)) => {
                self.collector = Some(collector);
                match outcome {
                    PollOutcome::Published => {
                        if self.last_error.take().is_some() {
                            info!(target_name = %k.target, database = %k.database, collector = k.collector, "collector recovered");
                        }
                    }
                    PollOutcome::TargetDown => self.count_skip("target_down"),
                    PollOutcome::Failed(msg) => {
                        if self.last_error.as_deref() != Some(msg.as_str()) {
                            warn!(target_name = %k.target, database = %k.database, collector = k.collector, error = %msg, "collector failed");
                        } else {
                            debug!(target_name = %k.target, database = %k.database, collector = k.collector, error = %msg, "collector still failing");
                        }
                        self.last_error = Some(msg);
                    }
                }
            }
            Err(e) => {
                warn!(target_name = %k.target, database = %k.database, collector = k.collector, error = %e, "collector task ended abnormally; collector stopped");
            }
        }
        if let Some(tx) = self.first_poll.take() {
            let _ = tx.try_send(());
        }
    }
}

/// Runs one poll of one collector and publishes its outcome.
async fn poll(
    mut collector: Box<dyn Collector>,
    key: SourceKey,
    spec: Arc<Spec>,
    state: Arc<TargetState>,
    pool: Pool,
    snapshot: Arc<Snapshot>,
    permits: Arc<Semaphore>,
) -> (Box<dyn Collector>, PollOutcome) {
    let telemetry = snapshot.telemetry().clone();
    let labels = [key.target.as_str(), key.database.as_str(), key.collector];
    if !state.up.load(Ordering::Relaxed) {
        snapshot.remove(&key);
        telemetry.collector_success.set(labels, 0.0);
        return (collector, PollOutcome::TargetDown);
    }
    // Wait for a turn (max_concurrent_polls); the wait counts in the poll's duration.
    let started = Instant::now();
    let Ok(_permit) = permits.acquire_owned().await else {
        return (collector, PollOutcome::Failed("shutting down".into()));
    };
    telemetry.collector_polls.inc(labels);
    let result: Result<Output, (String, Vec<Family>)> = async {
        let waited = Instant::now();
        let client = pool.get().await.map_err(|e| {
            let msg = format!("no connection to {}: {}", key.database, db::error_chain(&e));
            (msg, Vec::new())
        })?;
        telemetry.acquisition.observe(
            [&key.target, &key.database, "pool"],
            waited.elapsed().as_secs_f64(),
        );
        let cancel = client.cancel_token();
        let cx = PollContext {
            client: &client,
            server_version: state.server_version.load(Ordering::Relaxed),
        };
        match tokio::time::timeout(spec.timeout, collector.collect(cx)).await {
            Ok(r) => r.map_err(|f| (format!("{:#}", f.error), f.partial)),
            Err(_) => {
                // Bounded: over a network that swallows packets the cancel request hangs too.
                if let Ok(tls) = state.tls.clone() {
                    let _ = tokio::time::timeout(spec.timeout, cancel.cancel_query(tls)).await;
                }
                // The session may still be busy or stalled: it goes, not back to the pool.
                drop(deadpool_postgres::Object::take(client));
                let msg = format!(
                    "poll exceeded its timeout of {:?}; query cancelled",
                    spec.timeout
                );
                Err((msg, Vec::new()))
            }
        }
    }
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    telemetry.collector_duration.set(labels, elapsed);
    let source: Vec<(&'static str, &str)> = match spec.scope {
        Scope::Cluster => vec![("target", key.target.as_str())],
        Scope::Database => vec![
            ("target", key.target.as_str()),
            ("database", key.database.as_str()),
        ],
    };
    let mut result = result;
    if spec.scope == Scope::Cluster {
        let families = match &mut result {
            Ok(output) => &mut output.families,
            Err((_, partial)) => partial,
        };
        state.owners.retain(&state.server, &key.target, families);
    }
    let outcome = match result {
        // The families go first and the success gauge after: a scrape in between sees the
        // new families with the old verdict, never a new verdict over the old families.
        Ok(output) => {
            snapshot.publish(key.clone(), &source, output);
            telemetry.collector_success.set(labels, 1.0);
            telemetry
                .collector_last_success
                .set(labels, crate::clock::now());
            PollOutcome::Published
        }
        Err((msg, partial)) => {
            if partial.is_empty() {
                snapshot.remove(&key);
            } else {
                snapshot.publish(key.clone(), &source, partial.into());
            }
            telemetry.collector_errors.inc(labels);
            telemetry.collector_success.set(labels, 0.0);
            PollOutcome::Failed(msg)
        }
    };
    snapshot.bump();
    (collector, outcome)
}
