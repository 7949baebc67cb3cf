//! The running daemon: scheduler, alert engine and HTTP server wired to one snapshot.
//!
//! `pgvitals run` and `pgvitals demo` start a [`Daemon`] and wait for a signal (SIGHUP
//! reloads the configuration); the integration tests start one in-process on a free port.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::alerts::Alerts;
use crate::config::Config;
use crate::snapshot::Snapshot;
use crate::telemetry::Telemetry;
use crate::{http, scheduler};

/// A started daemon.
pub struct Daemon {
    addr: SocketAddr,
    snapshot: Arc<Snapshot>,
    alerts: Arc<Alerts>,
    config: Mutex<Config>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Daemon {
    /// Binds the listen address and starts polling every target.
    pub async fn start(config: Config) -> anyhow::Result<Daemon> {
        Daemon::start_named(config, "<inline>").await
    }

    /// [`Daemon::start`] with the name of the configuration file (shown by `/rules`).
    pub async fn start_named(config: Config, source: &str) -> anyhow::Result<Daemon> {
        let targets = config.resolve_targets().context("resolving targets")?;
        let telemetry = Arc::new(Telemetry::new(
            config.thresholds.connection_acquisition.0.as_secs_f64(),
        ));
        let snapshot = Arc::new(Snapshot::new(telemetry));
        let alerts = Alerts::new(&config, snapshot.clone(), source).context("alert rules")?;
        let listener = http::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = listener.local_addr()?;
        let (shutdown, rx) = watch::channel(false);
        let targets_len = targets.len();
        let mut tasks = scheduler::spawn(&config, targets, snapshot.clone(), rx.clone());
        tasks.push(tokio::spawn(alerts.clone().run(rx.clone())));
        tasks.push(tokio::spawn(http::serve(
            listener,
            snapshot.clone(),
            alerts.clone(),
            rx,
        )));
        match config.shard {
            Some(s) => {
                info!(%addr, shard = s.index, shards = s.count, targets = targets_len, of = config.targets.len(), "pgvitals listening")
            }
            None => info!(%addr, targets = targets_len, "pgvitals listening"),
        }
        snapshot.telemetry().reloaded(true);
        Ok(Daemon {
            addr,
            snapshot,
            alerts,
            config: Mutex::new(config),
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
        &self.snapshot
    }

    /// The alert engine (for in-process readers and tests).
    pub fn alerts(&self) -> &Arc<Alerts> {
        &self.alerts
    }

    /// Applies a new configuration: alert rules, thresholds, evaluation and Alertmanager
    /// settings take effect at once, and firing alerts keep their `activeAt`. Changes to
    /// `listen`, targets, connections or collectors are reported and take effect at the next
    /// start. On error nothing changes; either way `pgvitals_config_last_reload_successful`
    /// says how it went.
    pub fn reload(&self, config: Config) -> anyhow::Result<()> {
        let result = self.alerts.reload(&config);
        self.snapshot.telemetry().reloaded(result.is_ok());
        self.snapshot.bump();
        result?;
        let mut current = self.config.lock().unwrap();
        let mut restart = Vec::new();
        if current.listen != config.listen {
            restart.push("listen");
        }
        if yaml(&current.targets) != yaml(&config.targets) || current.shard != config.shard {
            restart.push("targets");
        }
        if yaml(&current.connections) != yaml(&config.connections)
            || current.max_concurrent_polls != config.max_concurrent_polls
        {
            restart.push("connections");
        }
        if yaml(&current.collectors) != yaml(&config.collectors)
            || yaml(&current.thresholds.query_latency) != yaml(&config.thresholds.query_latency)
        {
            restart.push("collectors");
        }
        if restart.is_empty() {
            info!("configuration reloaded");
        } else {
            warn!(
                changed = restart.join(", "),
                "configuration reloaded: alert rules and thresholds apply now; these changes need a restart"
            );
        }
        *current = config;
        Ok(())
    }

    /// Re-reads the configuration file and applies it ([`Daemon::reload`]). A file that does
    /// not parse or validate is refused with its `file:line:col: key` error and the running
    /// configuration stays untouched.
    pub fn reload_file(&self, path: &std::path::Path) -> anyhow::Result<()> {
        match Config::load(path) {
            Ok(config) => self.reload(config),
            Err(e) => {
                self.snapshot.telemetry().reloaded(false);
                self.snapshot.bump();
                Err(e.into())
            }
        }
    }

    /// Stops polling and serving; in-flight polls get [`scheduler::SHUTDOWN_GRACE`].
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let all = futures_join_all(self.tasks);
        if tokio::time::timeout(scheduler::SHUTDOWN_GRACE + Duration::from_secs(1), all)
            .await
            .is_err()
        {
            tracing::warn!("shutdown grace period passed; exiting with polls still running");
        }
    }
}

fn yaml<T: serde::Serialize>(v: &T) -> String {
    serde_yaml_ng::to_string(v).unwrap_or_default()
}

async fn futures_join_all(tasks: Vec<JoinHandle<()>>) {
    for t in tasks {
        let _ = t.await;
    }
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
