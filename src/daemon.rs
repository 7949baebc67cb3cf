//! The running daemon: scheduler, alert engine and HTTP server wired to one snapshot.
//!
//! `pgvitals run` and `pgvitals demo` start a [`Daemon`] and wait for a signal (SIGHUP
//! reloads the configuration, as does `POST /-/reload` when `web.enable_lifecycle` is on); the
//! integration tests start one in-process on a free port.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{mpsc, watch, Mutex};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::alerts::Alerts;
use crate::config::{Config, ResolvedTarget};
use crate::discovery::{self, Discovery};
use crate::pgbouncer::PgBouncers;
use crate::scheduler::{Changes, Scheduler};
use crate::snapshot::Snapshot;
use crate::telemetry::{Labeled, Telemetry};
use crate::{http, scheduler};

/// A started daemon.
pub struct Daemon {
    addr: SocketAddr,
    control: Arc<Control>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// What a reload changes: the running configuration, the scheduler and the alert rules.
struct Control {
    source: Option<PathBuf>,
    snapshot: Arc<Snapshot>,
    alerts: Arc<Alerts>,
    running: Mutex<Option<Running>>,
    /// `pgvitals_targets{source}` and `pgvitals_target_file_read_successful{file}`.
    counts: Arc<Labeled<1>>,
    files: Arc<Labeled<1>>,
}

/// The configuration in force and what runs it.
struct Running {
    config: Config,
    scheduler: Scheduler,
    pgbouncers: PgBouncers,
    discovery: Discovery,
}

impl Control {
    async fn reload(&self, config: Config) -> anyhow::Result<Changes> {
        let result = self.apply(config).await;
        self.snapshot.telemetry().reloaded(result.is_ok());
        self.snapshot.bump();
        result
    }

    async fn apply(&self, config: Config) -> anyhow::Result<Changes> {
        // Everything that can fail comes first: nothing changes unless all of it succeeds.
        let configured = config.resolve_targets().context("resolving targets")?;
        check_tls(&configured)?;
        let bouncers = config
            .resolve_pgbouncers()
            .context("resolving pgbouncers")?;
        check_pgbouncer_tls(&bouncers)?;
        let mut guard = self.running.lock().await;
        let Some(r) = guard.as_mut() else {
            anyhow::bail!("the daemon is shutting down");
        };
        self.alerts.reload(&config)?;
        r.discovery.refresh(&config.target_files);
        let (targets, sources) = discovery::merge(configured, &r.discovery);
        self.show_counts(&config, &r.discovery, &targets, &sources);
        let mut changes = r.scheduler.apply(&config, targets).await;
        changes.extend(r.pgbouncers.apply(&config, bouncers).await);
        if r.config.listen != config.listen || r.config.web != config.web {
            warn!("configuration reloaded; changes to `listen` and `web` need a restart");
        }
        log_changes(&changes, "configuration reloaded");
        r.config = config;
        Ok(changes)
    }

    /// Re-reads `target_files` and applies what changed in them; `targets:` and the rest of
    /// the configuration stay as they are.
    async fn refresh_files(&self) -> Option<Changes> {
        let mut guard = self.running.lock().await;
        let r = guard.as_mut()?;
        if r.config.target_files.is_empty() {
            return None;
        }
        let changed = r.discovery.refresh(&r.config.target_files);
        let configured = match r.config.resolve_targets() {
            Ok(c) => c,
            Err(e) => {
                error!("target files not applied: resolving `targets:` failed: {e}");
                return None;
            }
        };
        let (targets, sources) = discovery::merge(configured, &r.discovery);
        self.show_counts(&r.config, &r.discovery, &targets, &sources);
        if !changed {
            self.snapshot.bump();
            return None;
        }
        let changes = r.scheduler.apply(&r.config, targets).await;
        if !(changes.added.is_empty() && changes.removed.is_empty() && changes.restarted.is_empty())
        {
            log_changes(&changes, "target files changed");
        }
        self.snapshot.bump();
        Some(changes)
    }

    /// Sets `pgvitals_targets{source}` (this daemon's share) and each target file's standing;
    /// series of sources and files that went are dropped.
    fn show_counts(
        &self,
        config: &Config,
        discovery: &Discovery,
        targets: &[ResolvedTarget],
        sources: &[String],
    ) {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        counts.insert("config", 0);
        for (t, source) in targets.iter().zip(sources) {
            let n = counts.entry(source.as_str()).or_default();
            if config.owns(&t.name) {
                *n += 1;
            }
        }
        let status = discovery.status();
        for shown in self.counts.samples() {
            let source = &shown.0[0].1;
            if !counts.contains_key(source.as_str()) {
                self.counts.remove([source]);
            }
        }
        for shown in self.files.samples() {
            let file = &shown.0[0].1;
            if !status.iter().any(|s| &s.file == file) {
                self.files.remove([file]);
            }
        }
        for (source, n) in &counts {
            self.counts.set([source], *n as f64);
        }
        for s in &status {
            self.files.set([&s.file], if s.ok { 1.0 } else { 0.0 });
        }
    }

    async fn reload_file(&self) -> anyhow::Result<Changes> {
        let Some(path) = &self.source else {
            anyhow::bail!("the daemon was not started from a configuration file");
        };
        match Config::load(path) {
            Ok(config) => self.reload(config).await,
            Err(e) => {
                self.snapshot.telemetry().reloaded(false);
                self.snapshot.bump();
                Err(e.into())
            }
        }
    }
}

impl Daemon {
    /// Binds the listen address and starts polling every target.
    pub async fn start(config: Config) -> anyhow::Result<Daemon> {
        Daemon::start_inner(config, None).await
    }

    /// [`Daemon::start`] with the configuration file it came from: `/rules` names it, and
    /// SIGHUP or `POST /-/reload` ([`Daemon::reload_file`]) re-read it.
    pub async fn start_from_file(config: Config, path: &Path) -> anyhow::Result<Daemon> {
        Daemon::start_inner(config, Some(path.to_path_buf())).await
    }

    async fn start_inner(config: Config, source: Option<PathBuf>) -> anyhow::Result<Daemon> {
        let configured = config.resolve_targets().context("resolving targets")?;
        check_tls(&configured)?;
        let bouncers = config
            .resolve_pgbouncers()
            .context("resolving pgbouncers")?;
        check_pgbouncer_tls(&bouncers)?;
        let telemetry = Arc::new(Telemetry::new(
            config.thresholds.connection_acquisition.0.as_secs_f64(),
        ));
        let counts = Arc::new(Labeled::gauge(
            "pgvitals_targets",
            "Targets this daemon polls, by where they are listed: source=config (`targets:`) or a target file's path.",
            ["source"],
        ));
        let files = Arc::new(Labeled::gauge(
            "pgvitals_target_file_read_successful",
            "1 if the target file's current text was taken, 0 if it was refused (its last good list stays; the log says why).",
            ["file"],
        ));
        telemetry
            .register(counts.clone())
            .map_err(anyhow::Error::msg)?;
        telemetry
            .register(files.clone())
            .map_err(anyhow::Error::msg)?;
        let snapshot = Arc::new(Snapshot::new(telemetry));
        let source_name = source
            .as_ref()
            .map_or("<inline>".to_string(), |p| p.display().to_string());
        let alerts = Alerts::new(&config, snapshot.clone(), &source_name).context("alert rules")?;
        let web = crate::web::Web::from_config(&config.web)?;
        let listener = http::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = listener.local_addr()?;
        let (shutdown, rx) = watch::channel(false);
        let mut discovery = Discovery::default();
        discovery.refresh(&config.target_files);
        let (targets, sources) = discovery::merge(configured, &discovery);
        let owned = targets.iter().filter(|t| config.owns(&t.name)).count();
        let of = targets.len();
        let scheduler = Scheduler::start(&config, targets.clone(), snapshot.clone());
        let pgbouncers = PgBouncers::start(&config, bouncers, snapshot.clone());
        let (reload_tx, mut reload_rx) = mpsc::channel::<http::ReloadRequest>(4);
        let lifecycle = config.web.enable_lifecycle.then_some(reload_tx);
        let mut tasks = vec![tokio::spawn(alerts.clone().run(rx.clone()))];
        tasks.push(tokio::spawn(http::serve(
            listener,
            web,
            snapshot.clone(),
            alerts.clone(),
            lifecycle,
            rx.clone(),
        )));
        match config.shard {
            Some(s) => {
                info!(%addr, shard = s.index, shards = s.count, targets = owned, of, "pgvitals listening")
            }
            None => info!(%addr, targets = owned, "pgvitals listening"),
        }
        if owned == 0 && config.pgbouncers.is_empty() {
            warn!(
                target_files = config.target_files.join(","),
                "this daemon polls no target: `targets:` and the target files list none for it, so /metrics will hold no server"
            );
        }
        snapshot.telemetry().reloaded(true);
        let control = Arc::new(Control {
            source,
            snapshot,
            alerts,
            running: Mutex::new(None),
            counts,
            files,
        });
        control.show_counts(&config, &discovery, &targets, &sources);
        *control.running.lock().await = Some(Running {
            config,
            scheduler,
            pgbouncers,
            discovery,
        });
        let c = control.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(reply) = reload_rx.recv().await {
                let result = c.reload_file().await;
                if let Err(e) = &result {
                    error!("configuration reload refused, the running configuration stays: {e:#}");
                }
                let _ = reply.send(result.map(|_| ()).map_err(|e| format!("{e:#}")));
            }
        }));
        tasks.push(tokio::spawn(watch_target_files(control.clone(), rx)));
        Ok(Daemon {
            addr,
            control,
            shutdown,
            tasks,
        })
    }

    /// The address the HTTP server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The snapshot (for in-process readers and tests).
    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.control.snapshot
    }

    /// The alert engine (for in-process readers and tests).
    pub fn alerts(&self) -> &Arc<Alerts> {
        &self.control.alerts
    }

    /// Applies a new configuration. Targets added are started, removed ones stopped (their
    /// series removed), changed ones restarted; the others keep running untouched (pools,
    /// statement deltas, alert states). Collector, connection or concurrency changes restart
    /// every target. Alert rules and thresholds apply at the next evaluation, firing alerts
    /// keeping their `activeAt`. `listen` and `web` changes need a restart. When anything
    /// fails (a password file, a secret of the Alertmanager settings) nothing changes; either
    /// way `pgvitals_config_last_reload_successful` says how it went.
    pub async fn reload(&self, config: Config) -> anyhow::Result<Changes> {
        self.control.reload(config).await
    }

    /// Re-reads the configuration file the daemon started from and applies it. A file that does
    /// not parse or validate is refused with its `file:line:col: key` error and the running
    /// configuration stays untouched.
    pub async fn reload_file(&self) -> anyhow::Result<Changes> {
        self.control.reload_file().await
    }

    /// Stops polling and serving; in-flight polls get [`scheduler::SHUTDOWN_GRACE`].
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let running = self.control.running.lock().await.take();
        let all = async move {
            if let Some(r) = running {
                r.scheduler.stop().await;
                r.pgbouncers.stop().await;
            }
            for t in self.tasks {
                t.abort();
                let _ = t.await;
            }
        };
        if tokio::time::timeout(scheduler::SHUTDOWN_GRACE + Duration::from_secs(1), all)
            .await
            .is_err()
        {
            tracing::warn!("shutdown grace period passed; exiting with polls still running");
        }
    }
}

/// Logs what a reload or a target file change started, stopped and restarted.
fn log_changes(changes: &Changes, what: &str) {
    info!(
        added = changes.added.join(","),
        removed = changes.removed.join(","),
        restarted = changes.restarted.join(","),
        "{what}"
    );
}

/// Re-reads `target_files` every `target_files_refresh` (the running configuration's) until
/// shutdown.
async fn watch_target_files(control: Arc<Control>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let every = match control.running.lock().await.as_ref() {
            Some(r) => r.config.target_files_refresh.0,
            None => return,
        };
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        control.refresh_files().await;
    }
}

/// Refuses targets whose TLS files do not load.
fn check_tls(targets: &[crate::config::ResolvedTarget]) -> anyhow::Result<()> {
    for t in targets {
        crate::db::tls_connector(&t.tls).with_context(|| format!("target `{}`", t.name))?;
    }
    Ok(())
}

/// Refuses PgBouncers whose TLS files do not load.
fn check_pgbouncer_tls(bouncers: &[crate::config::ResolvedPgBouncer]) -> anyhow::Result<()> {
    for b in bouncers {
        crate::db::tls_connector(&b.tls).with_context(|| format!("pgbouncer `{}`", b.name))?;
    }
    Ok(())
}

/// Resolves when SIGINT or SIGTERM arrives.
pub async fn wait_for_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => info!("SIGINT received, shutting down"),
        _ = term.recv() => info!("SIGTERM received, shutting down"),
    }
}
