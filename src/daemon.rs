//! The running daemon: scheduler and HTTP server wired to one snapshot.
//!
//! `pgvitals run` and `pgvitals demo` start a [`Daemon`] and wait for a signal; the integration
//! tests start one in-process on a free port.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::info;

use crate::config::Config;
use crate::snapshot::Snapshot;
use crate::telemetry::Telemetry;
use crate::{http, scheduler};

/// A started daemon.
pub struct Daemon {
    addr: SocketAddr,
    snapshot: Arc<Snapshot>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Daemon {
    /// Binds the listen address and starts polling every target.
    pub async fn start(config: Config) -> anyhow::Result<Daemon> {
        let targets = config.resolve_targets().context("resolving targets")?;
        let telemetry = Arc::new(Telemetry::new(
            config.thresholds.connection_acquisition.0.as_secs_f64(),
        ));
        let snapshot = Arc::new(Snapshot::new(telemetry));
        let listener = http::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = listener.local_addr()?;
        let (shutdown, rx) = watch::channel(false);
        let targets_len = targets.len();
        let mut tasks = scheduler::spawn(&config, targets, snapshot.clone(), rx.clone());
        tasks.push(tokio::spawn(http::serve(listener, snapshot.clone(), rx)));
        match config.shard {
            Some(s) => {
                info!(%addr, shard = s.index, shards = s.count, targets = targets_len, of = config.targets.len(), "pgvitals listening")
            }
            None => info!(%addr, targets = targets_len, "pgvitals listening"),
        }
        Ok(Daemon {
            addr,
            snapshot,
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
