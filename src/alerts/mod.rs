//! The alert engine: evaluates the alert rules against the snapshot on a schedule, keeps each
//! alert's state, and hands the results to the exposition (`/alerts`, `/rules`, the
//! `pgvitals_alerts` series) and to the Alertmanager notifier.
//!
//! No collector knows about alerts: the evaluator only reads the snapshot (downstream of it)
//! and pgvitals' own metrics. One source of truth, the `thresholds:`/`alerts:` configuration,
//! feeds both this engine and the Prometheus rule file `pgvitals rules` prints
//! ([`promrules`]).
//!
//! - [`rules`]: what the rules are.
//! - [`engine`]: the state machine (and what happens when a rule's input is missing).
//! - [`api`]: the JSON and text views of the state.
//! - [`notifier`]: delivery to Alertmanager.

pub mod api;
pub mod engine;
pub mod evidence;
pub mod goals;
pub mod notifier;
pub mod promrules;
pub mod rules;

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::sync::watch;

use crate::config::Config;
use crate::snapshot::Snapshot;
use crate::telemetry::Labeled;

use engine::{Engine, Inputs, Settings};
use notifier::{Delivery, Notifier};

/// The views the HTTP server serves, rebuilt after each evaluation.
#[derive(Debug, Clone, Default)]
pub struct Views {
    /// `GET /alerts`.
    pub alerts: Bytes,
    /// `GET /rules`.
    pub rules: Bytes,
    /// The `pgvitals_alerts` series, in the text exposition format.
    pub exposition: Bytes,
    /// Every target's state and its four performance targets, at the last evaluation.
    pub status: Arc<Vec<goals::TargetStatus>>,
    /// The pending and firing alerts.
    pub active: Arc<Vec<engine::Alert>>,
}

struct Current {
    settings: Settings,
    interval: Duration,
    external_url: String,
    source_file: String,
    thresholds: goals::Thresholds,
}

/// The running alert engine, shared by the evaluation loop, the HTTP server and reloads.
pub struct Alerts {
    engine: Mutex<Engine>,
    current: RwLock<Current>,
    views: RwLock<Views>,
    batches: watch::Sender<Arc<notifier::Batch>>,
    delivery: watch::Sender<Option<Arc<Delivery>>>,
    last_evaluation: RwLock<Option<(SystemTime, Duration)>>,
    status: RwLock<Arc<Vec<goals::TargetStatus>>>,
    evaluations: Arc<Labeled<0>>,
    evaluation_seconds: Arc<Labeled<0>>,
    snapshot: Arc<Snapshot>,
}

fn settings(config: &Config) -> Settings {
    Settings {
        hold_absent: config.alerts.hold_absent.0,
        resolved_retention: config.alerts.resolved_retention.0,
        acquisition_window: config.alerts.connection_acquisition_window.0,
    }
}

fn external_url(config: &Config) -> String {
    config
        .alerts
        .external_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.listen))
        .trim_end_matches('/')
        .to_string()
}

impl Alerts {
    /// Builds the rules of `config`; `source_file` names the configuration in `/rules`.
    /// Fails when a secret of the Alertmanager settings cannot be read.
    pub fn new(
        config: &Config,
        snapshot: Arc<Snapshot>,
        source_file: &str,
    ) -> anyhow::Result<Arc<Alerts>> {
        let evaluations = Arc::new(Labeled::counter(
            "pgvitals_alert_evaluations_total",
            "Evaluations of the alert rules.",
            [],
        ));
        let evaluation_seconds = Arc::new(Labeled::gauge(
            "pgvitals_alert_evaluation_duration_seconds",
            "Wall time of the last evaluation of every alert rule.",
            [],
        ));
        let telemetry = snapshot.telemetry();
        telemetry
            .register(evaluations.clone())
            .map_err(anyhow::Error::msg)?;
        telemetry
            .register(evaluation_seconds.clone())
            .map_err(anyhow::Error::msg)?;
        let delivery = Delivery::from_config(config)?;
        let alerts = Alerts {
            engine: Mutex::new(Engine::new(rules::build(config), settings(config))),
            current: RwLock::new(Current {
                settings: settings(config),
                interval: config.alerts.evaluation_interval.0,
                external_url: external_url(config),
                source_file: source_file.to_string(),
                thresholds: goals::Thresholds::from_config(config),
            }),
            status: RwLock::new(Arc::new(Vec::new())),
            views: RwLock::new(Views::default()),
            batches: watch::channel(Arc::new(notifier::Batch::default())).0,
            delivery: watch::channel(delivery.map(Arc::new)).0,
            last_evaluation: RwLock::new(None),
            evaluations,
            evaluation_seconds,
            snapshot,
        };
        alerts.publish_views();
        Ok(Arc::new(alerts))
    }

    /// Applies a new configuration: new rules and thresholds (alerts that still exist keep
    /// their state and `activeAt`), evaluation settings and Alertmanager settings. Nothing is
    /// changed when a secret of the new Alertmanager settings cannot be read.
    pub fn reload(&self, config: &Config) -> anyhow::Result<()> {
        let delivery = Delivery::from_config(config)?;
        self.engine.lock().unwrap().set_rules(
            rules::build(config),
            settings(config),
            SystemTime::now(),
        );
        {
            let mut c = self.current.write().unwrap();
            c.settings = settings(config);
            c.interval = config.alerts.evaluation_interval.0;
            c.external_url = external_url(config);
            c.thresholds = goals::Thresholds::from_config(config);
        }
        self.delivery.send_replace(delivery.map(Arc::new));
        self.publish_views();
        Ok(())
    }

    /// The latest views.
    pub fn views(&self) -> Views {
        self.views.read().unwrap().clone()
    }

    /// Evaluates every rule once, now.
    pub fn evaluate(&self) {
        let started = std::time::Instant::now();
        let now = SystemTime::now();
        {
            let mut engine = self.engine.lock().unwrap();
            let inputs = Inputs::read(&self.snapshot, engine.rules());
            engine.evaluate(&inputs, now);
            let t = self.current.read().unwrap().thresholds;
            let p95 = engine.acquisition_quantiles(0.95, t.acquisition_window, &inputs);
            *self.status.write().unwrap() = Arc::new(goals::judge(&inputs, &p95, &t));
        }
        let took = started.elapsed();
        *self.last_evaluation.write().unwrap() = Some((now, took));
        self.evaluations.inc([]);
        self.evaluation_seconds.set([], took.as_secs_f64());
        self.publish_views();
        let batch = {
            let engine = self.engine.lock().unwrap();
            let c = self.current.read().unwrap();
            notifier::Batch::new(&engine, now, c.interval, &c.external_url)
        };
        self.batches.send_replace(Arc::new(batch));
    }

    fn publish_views(&self) {
        let engine = self.engine.lock().unwrap();
        let c = self.current.read().unwrap();
        let last = *self.last_evaluation.read().unwrap();
        let views = Views {
            alerts: api::alerts_json(&engine),
            rules: api::rules_json(&engine, &c.source_file, c.interval, last),
            exposition: api::exposition(&engine),
            status: self.status.read().unwrap().clone(),
            active: Arc::new(engine.active().cloned().collect()),
        };
        drop(c);
        drop(engine);
        *self.views.write().unwrap() = views;
    }

    /// Evaluates on the configured interval and delivers to Alertmanager until `shutdown`.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let notifier =
            Notifier::new(self.snapshot.telemetry()).expect("Alertmanager metric names are unique");
        let delivering = tokio::spawn(notifier.run(
            self.batches.subscribe(),
            self.delivery.subscribe(),
            shutdown.clone(),
        ));
        loop {
            let interval = self.current.read().unwrap().interval;
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.changed() => break,
            }
            self.evaluate();
            // The snapshot renders pgvitals' own metrics too; the evaluation counters changed.
            self.snapshot.bump();
        }
        let _ = delivering.await;
    }
}
