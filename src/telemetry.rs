//! pgvitals' own metrics: is each target up, how long connecting takes, how each collector fares.
//!
//! Kept in a `prometheus` registry, written by the scheduler as it polls, encoded into the
//! exposition next to the collectors' families. Every series here is about pgvitals' work, not
//! about what the database reported.

use prometheus::{
    CounterVec, Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry,
    TextEncoder,
};

/// Histogram buckets of connection acquisition, in seconds. The configured
/// `thresholds.connection_acquisition` is added so "fraction under the target" is exact.
const ACQUISITION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The self-metrics.
pub struct Telemetry {
    registry: Registry,
    reload_ok: prometheus::Gauge,
    reload_at: prometheus::Gauge,
    /// `pgvitals_up{target}`: 1 when the last connection probe succeeded.
    pub up: GaugeVec,
    /// `pgvitals_connection_acquisition_seconds{target,database,method}`; method is `connect`
    /// (probe: fresh connection + query) or `pool` (a collector waiting for a pooled connection).
    pub acquisition: HistogramVec,
    /// `pgvitals_server_supported{target}`: 0 when the server is older than PostgreSQL 13 (it is
    /// then not polled).
    pub server_supported: GaugeVec,
    /// `pgvitals_connection_probe_failures_total{target}`.
    pub probe_failures: IntCounterVec,
    /// `pgvitals_collector_success{target,database,collector}`: 1 if the last poll succeeded.
    pub collector_success: GaugeVec,
    /// `pgvitals_collector_duration_seconds{…}`: time the last poll took.
    pub collector_duration: GaugeVec,
    /// `pgvitals_collector_last_success_timestamp_seconds{…}`.
    pub collector_last_success: GaugeVec,
    /// `pgvitals_collector_polls_total{…}`: polls started.
    pub collector_polls: IntCounterVec,
    /// `pgvitals_collector_errors_total{…}`: polls that failed or timed out.
    pub collector_errors: IntCounterVec,
    /// `pgvitals_collector_skipped_ticks_total{…,reason}`: ticks not polled; `reason` is `busy`
    /// (previous poll still running) or `target_down`.
    pub collector_skipped: CounterVec,
}

impl Telemetry {
    /// Creates the registry; `acquisition_target` is added to the histogram buckets.
    pub fn new(acquisition_target_seconds: f64) -> Telemetry {
        let registry = Registry::new();
        let per_collector = ["target", "database", "collector"];
        let mut buckets = ACQUISITION_BUCKETS.to_vec();
        if !buckets
            .iter()
            .any(|b| (b - acquisition_target_seconds).abs() < 1e-12)
        {
            buckets.push(acquisition_target_seconds);
            buckets.sort_by(f64::total_cmp);
        }
        let t = Telemetry {
            up: GaugeVec::new(
                Opts::new("pgvitals_up", "1 if the last connection probe of the target succeeded, else 0."),
                &["target"],
            )
            .unwrap(),
            acquisition: HistogramVec::new(
                HistogramOpts::new(
                    "pgvitals_connection_acquisition_seconds",
                    "Time to get a usable connection: method=connect is a fresh connection and a query (the probe), method=pool a collector's wait for a pooled one.",
                )
                .buckets(buckets),
                &["target", "database", "method"],
            )
            .unwrap(),
            server_supported: GaugeVec::new(
                Opts::new(
                    "pgvitals_server_supported",
                    "1 if the server's version is supported (PostgreSQL 13 or later), 0 if it is not and is not polled.",
                ),
                &["target"],
            )
            .unwrap(),
            probe_failures: IntCounterVec::new(
                Opts::new("pgvitals_connection_probe_failures_total", "Connection probes that failed."),
                &["target"],
            )
            .unwrap(),
            collector_success: GaugeVec::new(
                Opts::new("pgvitals_collector_success", "1 if the collector's last poll succeeded, else 0."),
                &per_collector,
            )
            .unwrap(),
            collector_duration: GaugeVec::new(
                Opts::new("pgvitals_collector_duration_seconds", "Wall time of the collector's last poll."),
                &per_collector,
            )
            .unwrap(),
            collector_last_success: GaugeVec::new(
                Opts::new(
                    "pgvitals_collector_last_success_timestamp_seconds",
                    "Unix time the collector's last successful poll finished.",
                ),
                &per_collector,
            )
            .unwrap(),
            collector_polls: IntCounterVec::new(
                Opts::new("pgvitals_collector_polls_total", "Polls the collector started."),
                &per_collector,
            )
            .unwrap(),
            collector_errors: IntCounterVec::new(
                Opts::new("pgvitals_collector_errors_total", "Polls of the collector that failed or timed out."),
                &per_collector,
            )
            .unwrap(),
            collector_skipped: CounterVec::new(
                Opts::new(
                    "pgvitals_collector_skipped_ticks_total",
                    "Scheduled polls not run: reason=busy (the previous poll was still running) or target_down.",
                ),
                &["target", "database", "collector", "reason"],
            )
            .unwrap(),
            reload_ok: prometheus::Gauge::new(
                "pgvitals_config_last_reload_successful",
                "1 if the last configuration (re)load was applied, 0 if it was refused.",
            )
            .unwrap(),
            reload_at: prometheus::Gauge::new(
                "pgvitals_config_last_reload_success_timestamp_seconds",
                "When the configuration was last applied.",
            )
            .unwrap(),
            registry,
        };
        let build = GaugeVec::new(
            Opts::new(
                "pgvitals_build_info",
                "pgvitals version, as a label; value 1.",
            ),
            &["version"],
        )
        .unwrap();
        build
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1.0);
        t.registry.register(Box::new(build)).unwrap();
        for c in [
            Box::new(t.up.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(t.acquisition.clone()),
            Box::new(t.server_supported.clone()),
            Box::new(t.probe_failures.clone()),
            Box::new(t.collector_success.clone()),
            Box::new(t.collector_duration.clone()),
            Box::new(t.collector_last_success.clone()),
            Box::new(t.collector_polls.clone()),
            Box::new(t.collector_errors.clone()),
            Box::new(t.collector_skipped.clone()),
            Box::new(t.reload_ok.clone()),
            Box::new(t.reload_at.clone()),
        ] {
            t.registry
                .register(c)
                .expect("self-metric names are unique");
        }
        t
    }

    /// Drops the target-level series of a target (it was removed from the config).
    pub fn forget_target(&self, target: &str) {
        let _ = self.up.remove_label_values(&[target]);
        let _ = self.probe_failures.remove_label_values(&[target]);
        let _ = self.server_supported.remove_label_values(&[target]);
    }

    /// Creates a collector's counters at zero, so `rate()` and dashboards see them before the
    /// first error or skipped tick.
    pub fn init_collector(&self, target: &str, database: &str, collector: &str) {
        let l = [target, database, collector];
        self.collector_polls.with_label_values(&l);
        self.collector_errors.with_label_values(&l);
        for reason in ["busy", "target_down"] {
            self.collector_skipped
                .with_label_values(&[target, database, collector, reason]);
        }
    }

    /// Drops the series of one collector on one database (no longer polled).
    pub fn forget_collector(&self, target: &str, database: &str, collector: &str) {
        let l = [target, database, collector];
        let _ = self.collector_success.remove_label_values(&l);
        let _ = self.collector_duration.remove_label_values(&l);
        let _ = self.collector_last_success.remove_label_values(&l);
        let _ = self.collector_polls.remove_label_values(&l);
        let _ = self.collector_errors.remove_label_values(&l);
        for reason in ["busy", "target_down"] {
            let _ = self
                .collector_skipped
                .remove_label_values(&[target, database, collector, reason]);
        }
    }

    /// Drops the acquisition histograms of one database of a target.
    pub fn forget_database(&self, target: &str, database: &str) {
        for method in ["connect", "pool"] {
            let _ = self
                .acquisition
                .remove_label_values(&[target, database, method]);
        }
    }

    /// Records how a configuration (re)load went.
    pub fn reloaded(&self, ok: bool) {
        self.reload_ok.set(if ok { 1.0 } else { 0.0 });
        if ok {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            self.reload_at.set(now);
        }
    }

    /// The self-metrics as metric families, for in-process readers (the alert evaluator).
    pub fn gather(&self) -> Vec<prometheus::proto::MetricFamily> {
        self.registry.gather()
    }

    /// Registers more self-metrics (a downstream component's) to be rendered with these.
    pub fn register(&self, c: Box<dyn prometheus::core::Collector>) -> prometheus::Result<()> {
        self.registry.register(c)
    }

    /// The self-metrics in Prometheus' text format.
    pub fn encode(&self) -> String {
        let mut buf = Vec::with_capacity(16 * 1024);
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding into a Vec cannot fail");
        String::from_utf8(buf).expect("text exposition is UTF-8")
    }
}
