//! pgvitals' own metrics: is each target up, how long connecting takes, how each collector fares.
//!
//! Written by the scheduler as it polls, encoded into the exposition next to the collectors'
//! families. Every series here is about pgvitals' work, not about what the database reported.
//!
//! Every self-metric is a [`Labeled`] gauge or counter or a [`Histogram`]: each series is stored
//! under its encoded label set, so encoding is a copy of a few strings per line (the per-target
//! series are 15,000 lines at 200 targets). Downstream components (the alert evaluator, the
//! notifier) make their own families and [`register`](Telemetry::register) them to be rendered
//! and read with these: one encoder for every self-metric, the exposition's own
//! ([`crate::metrics`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::metrics::{write_header, write_label_pairs, write_value, Kind};

/// Histogram buckets of connection acquisition, in seconds. The configured
/// `thresholds.connection_acquisition` is added so "fraction under the target" is exact.
const ACQUISITION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The label set of a series encoded as in the exposition, without braces:
/// `target="main",database="app"`. Unique per series and sorted like the labels.
fn label_key<const N: usize>(names: &[&'static str; N], values: [&str; N]) -> String {
    let mut key = String::with_capacity(16 * N + values.iter().map(|v| v.len()).sum::<usize>());
    write_label_pairs(&mut key, names.iter().copied().zip(values));
    key
}

/// One sample of a [`Labeled`] family as read back: label values in declared order, value.
pub type LabeledValue<const N: usize> = ([String; N], f64);

/// One series as (label name, value) pairs, and its value.
pub type Sample = (Vec<(String, String)>, f64);

/// Cumulative histogram buckets: (upper bound, count), the last one `+Inf`.
pub type Buckets = Vec<(f64, u64)>;

/// A gauge or counter family with `N` labels.
pub struct Labeled<const N: usize> {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    labels: [&'static str; N],
    series: Mutex<BTreeMap<String, LabeledValue<N>>>,
}

/// A self-metric family that a downstream component registers with [`Telemetry`].
pub trait SelfMetric: Send + Sync {
    /// The metric name.
    fn name(&self) -> &'static str;
    /// Appends the family in the text exposition format (nothing when it has no series).
    fn encode(&self, out: &mut String);
    /// Every series as (label name, value) pairs and its value.
    fn samples(&self) -> Vec<Sample>;
}

impl<const N: usize> SelfMetric for Labeled<N> {
    fn name(&self) -> &'static str {
        self.name
    }
    fn encode(&self, out: &mut String) {
        Labeled::encode(self, out)
    }
    fn samples(&self) -> Vec<Sample> {
        Labeled::samples(self)
    }
}

impl<const N: usize> Labeled<N> {
    /// A gauge family.
    pub fn gauge(name: &'static str, help: &'static str, labels: [&'static str; N]) -> Self {
        Labeled::new(Kind::Gauge, name, help, labels)
    }

    /// A counter family (`name` ends in `_total`).
    pub fn counter(name: &'static str, help: &'static str, labels: [&'static str; N]) -> Self {
        debug_assert!(name.ends_with("_total"), "counter {name}");
        Labeled::new(Kind::Counter, name, help, labels)
    }

    fn new(kind: Kind, name: &'static str, help: &'static str, labels: [&'static str; N]) -> Self {
        debug_assert!(
            crate::metrics::valid_metric_name(name),
            "metric name {name}"
        );
        Labeled {
            name,
            help,
            kind,
            labels,
            series: Mutex::new(BTreeMap::new()),
        }
    }

    fn update(&self, values: [&str; N], f: impl FnOnce(&mut f64)) {
        let key = label_key(&self.labels, values);
        let mut series = self.series.lock().unwrap();
        let slot = series
            .entry(key)
            .or_insert_with(|| (values.map(str::to_string), 0.0));
        f(&mut slot.1);
    }

    /// Sets a series' value (gauges).
    pub fn set(&self, values: [&str; N], v: f64) {
        self.update(values, |slot| *slot = v);
    }

    /// Adds one (counters).
    pub fn inc(&self, values: [&str; N]) {
        self.inc_by(values, 1.0);
    }

    /// Adds `n` (counters).
    pub fn inc_by(&self, values: [&str; N], n: f64) {
        self.update(values, |slot| *slot += n);
    }

    /// Creates a series at 0 if it does not exist (counters that `rate()` should see early).
    pub fn touch(&self, values: [&str; N]) {
        self.update(values, |_| {});
    }

    /// Drops a series.
    pub fn remove(&self, values: [&str; N]) {
        let key = label_key(&self.labels, values);
        self.series.lock().unwrap().remove(&key);
    }

    /// The value of a series, if it exists.
    pub fn get(&self, values: [&str; N]) -> Option<f64> {
        let key = label_key(&self.labels, values);
        self.series.lock().unwrap().get(&key).map(|s| s.1)
    }

    /// The metric name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Every series as (label name, value) pairs and its value.
    pub fn samples(&self) -> Vec<Sample> {
        self.series
            .lock()
            .unwrap()
            .values()
            .map(|(values, v)| {
                let names = self.labels.iter().map(|n| n.to_string());
                (names.zip(values.iter().cloned()).collect(), *v)
            })
            .collect()
    }

    fn encode(&self, out: &mut String) {
        let series = self.series.lock().unwrap();
        if series.is_empty() {
            return;
        }
        write_header(out, self.name, self.help, self.kind.as_str());
        for (key, (_, v)) in series.iter() {
            out.push_str(self.name);
            if !key.is_empty() {
                out.push('{');
                out.push_str(key);
                out.push('}');
            }
            out.push(' ');
            write_value(out, *v);
            out.push('\n');
        }
    }
}

/// Observations of one histogram series.
struct Observations<const N: usize> {
    values: [String; N],
    /// Per bucket (same order as the bounds), observations ≤ the bound and > the previous one.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

/// A histogram family with `N` labels and fixed buckets.
pub struct Histogram<const N: usize> {
    name: &'static str,
    help: &'static str,
    labels: [&'static str; N],
    bounds: Vec<f64>,
    bound_labels: Vec<String>,
    series: Mutex<BTreeMap<String, Observations<N>>>,
}

impl<const N: usize> Histogram<N> {
    fn new(
        name: &'static str,
        help: &'static str,
        labels: [&'static str; N],
        bounds: Vec<f64>,
    ) -> Self {
        let bound_labels = bounds
            .iter()
            .map(|b| {
                let mut s = String::new();
                write_value(&mut s, *b);
                s
            })
            .collect();
        Histogram {
            name,
            help,
            labels,
            bounds,
            bound_labels,
            series: Mutex::new(BTreeMap::new()),
        }
    }

    /// Records one observation.
    pub fn observe(&self, values: [&str; N], v: f64) {
        let key = label_key(&self.labels, values);
        let mut series = self.series.lock().unwrap();
        let o = series.entry(key).or_insert_with(|| Observations {
            values: values.map(str::to_string),
            counts: vec![0; self.bounds.len()],
            sum: 0.0,
            count: 0,
        });
        if let Some(i) = self.bounds.iter().position(|b| v <= *b) {
            o.counts[i] += 1;
        }
        o.sum += v;
        o.count += 1;
    }

    /// Drops a series.
    pub fn remove(&self, values: [&str; N]) {
        let key = label_key(&self.labels, values);
        self.series.lock().unwrap().remove(&key);
    }

    /// Every series: label values in declared order and its cumulative buckets (upper bound,
    /// count), the last one `+Inf`.
    pub fn cumulative(&self) -> Vec<([String; N], Buckets)> {
        self.series
            .lock()
            .unwrap()
            .values()
            .map(|o| {
                let mut acc = 0;
                let buckets = self
                    .bounds
                    .iter()
                    .zip(&o.counts)
                    .map(|(b, c)| {
                        acc += c;
                        (*b, acc)
                    })
                    .chain([(f64::INFINITY, o.count)])
                    .collect();
                (o.values.clone(), buckets)
            })
            .collect()
    }

    fn encode(&self, out: &mut String) {
        let series = self.series.lock().unwrap();
        if series.is_empty() {
            return;
        }
        write_header(out, self.name, self.help, "histogram");
        for (key, o) in series.iter() {
            let mut acc = 0;
            let sep = if key.is_empty() { "" } else { "," };
            for (le, c) in self
                .bound_labels
                .iter()
                .map(String::as_str)
                .zip(&o.counts)
                .chain([("+Inf", &0)])
            {
                acc += c;
                let n = if le == "+Inf" { o.count } else { acc };
                out.push_str(self.name);
                out.push_str("_bucket{");
                out.push_str(key);
                out.push_str(sep);
                out.push_str("le=\"");
                out.push_str(le);
                out.push_str("\"} ");
                write_value(out, n as f64);
                out.push('\n');
            }
            for (suffix, v) in [("_sum", o.sum), ("_count", o.count as f64)] {
                out.push_str(self.name);
                out.push_str(suffix);
                if !key.is_empty() {
                    out.push('{');
                    out.push_str(key);
                    out.push('}');
                }
                out.push(' ');
                write_value(out, v);
                out.push('\n');
            }
        }
    }
}

/// Labels of a per-collector series: target, database, collector.
const PER_COLLECTOR: [&str; 3] = ["target", "database", "collector"];

/// The self-metrics.
pub struct Telemetry {
    build_info: Labeled<1>,
    reload_ok: Labeled<0>,
    reload_at: Labeled<0>,
    /// `pgvitals_up{target}`: 1 when the last connection probe succeeded.
    pub up: Labeled<1>,
    /// `pgvitals_connection_acquisition_seconds{target,database,method}`; method is `connect`
    /// (probe: fresh connection + query) or `pool` (a collector waiting for a pooled connection).
    pub acquisition: Histogram<3>,
    /// `pgvitals_server_supported{target}`: 0 when the server is older than PostgreSQL 13 (it is
    /// then not polled).
    pub server_supported: Labeled<1>,
    /// `pgvitals_connection_probe_failures_total{target}`.
    pub probe_failures: Labeled<1>,
    /// `pgvitals_collector_success{target,database,collector}`: 1 if the last poll succeeded.
    pub collector_success: Labeled<3>,
    /// `pgvitals_collector_duration_seconds{…}`: time the last poll took.
    pub collector_duration: Labeled<3>,
    /// `pgvitals_collector_last_success_timestamp_seconds{…}`.
    pub collector_last_success: Labeled<3>,
    /// `pgvitals_collector_polls_total{…}`: polls started.
    pub collector_polls: Labeled<3>,
    /// `pgvitals_collector_errors_total{…}`: polls that failed or timed out.
    pub collector_errors: Labeled<3>,
    /// `pgvitals_collector_skipped_ticks_total{…,reason}`: ticks not polled; `reason` is `busy`
    /// (previous poll still running) or `target_down`.
    pub collector_skipped: Labeled<4>,
    /// Families registered by downstream components.
    registered: Mutex<Vec<Arc<dyn SelfMetric>>>,
}

impl Telemetry {
    /// Creates the self-metrics; `acquisition_target` is added to the histogram buckets.
    pub fn new(acquisition_target_seconds: f64) -> Telemetry {
        let mut buckets = ACQUISITION_BUCKETS.to_vec();
        if !buckets
            .iter()
            .any(|b| (b - acquisition_target_seconds).abs() < 1e-12)
        {
            buckets.push(acquisition_target_seconds);
            buckets.sort_by(f64::total_cmp);
        }
        let gauge = |name, help, labels| Labeled::new(Kind::Gauge, name, help, labels);
        let counter = |name, help, labels| Labeled::new(Kind::Counter, name, help, labels);
        let t = Telemetry {
            build_info: Labeled::new(
                Kind::Gauge,
                "pgvitals_build_info",
                "pgvitals version, as a label; value 1.",
                ["version"],
            ),
            reload_ok: Labeled::new(
                Kind::Gauge,
                "pgvitals_config_last_reload_successful",
                "1 if the last configuration (re)load was applied, 0 if it was refused.",
                [],
            ),
            reload_at: Labeled::new(
                Kind::Gauge,
                "pgvitals_config_last_reload_success_timestamp_seconds",
                "When the configuration was last applied.",
                [],
            ),
            up: Labeled::new(
                Kind::Gauge,
                "pgvitals_up",
                "1 if the last connection probe of the target succeeded, else 0.",
                ["target"],
            ),
            acquisition: Histogram::new(
                "pgvitals_connection_acquisition_seconds",
                "Time to get a usable connection: method=connect is a fresh connection and a query (the probe), method=pool a collector's wait for a pooled one.",
                ["target", "database", "method"],
                buckets,
            ),
            server_supported: Labeled::new(
                Kind::Gauge,
                "pgvitals_server_supported",
                "1 if the server's version is supported (PostgreSQL 13 or later), 0 if it is not and is not polled.",
                ["target"],
            ),
            probe_failures: Labeled::new(
                Kind::Counter,
                "pgvitals_connection_probe_failures_total",
                "Connection probes that failed.",
                ["target"],
            ),
            collector_success: gauge(
                "pgvitals_collector_success",
                "1 if the collector's last poll succeeded, else 0.",
                PER_COLLECTOR,
            ),
            collector_duration: gauge(
                "pgvitals_collector_duration_seconds",
                "Wall time of the collector's last poll.",
                PER_COLLECTOR,
            ),
            collector_last_success: gauge(
                "pgvitals_collector_last_success_timestamp_seconds",
                "Unix time the collector's last successful poll finished.",
                PER_COLLECTOR,
            ),
            collector_polls: counter(
                "pgvitals_collector_polls_total",
                "Polls the collector started.",
                PER_COLLECTOR,
            ),
            collector_errors: counter(
                "pgvitals_collector_errors_total",
                "Polls of the collector that failed or timed out.",
                PER_COLLECTOR,
            ),
            collector_skipped: Labeled::new(
                Kind::Counter,
                "pgvitals_collector_skipped_ticks_total",
                "Scheduled polls not run: reason=busy (the previous poll was still running) or target_down.",
                ["target", "database", "collector", "reason"],
            ),
            registered: Mutex::new(Vec::new()),
        };
        t.build_info.set([env!("CARGO_PKG_VERSION")], 1.0);
        t
    }

    /// Drops the target-level series of a target (it was removed from the config).
    pub fn forget_target(&self, target: &str) {
        self.up.remove([target]);
        self.probe_failures.remove([target]);
        self.server_supported.remove([target]);
    }

    /// Creates a collector's counters at zero, so `rate()` and dashboards see them before the
    /// first error or skipped tick.
    pub fn init_collector(&self, target: &str, database: &str, collector: &str) {
        let l = [target, database, collector];
        self.collector_polls.touch(l);
        self.collector_errors.touch(l);
        for reason in ["busy", "target_down"] {
            self.collector_skipped
                .touch([target, database, collector, reason]);
        }
    }

    /// Drops the series of one collector on one database (no longer polled).
    pub fn forget_collector(&self, target: &str, database: &str, collector: &str) {
        let l = [target, database, collector];
        for f in self.per_collector() {
            f.remove(l);
        }
        for reason in ["busy", "target_down"] {
            self.collector_skipped
                .remove([target, database, collector, reason]);
        }
    }

    /// Drops the acquisition histograms of one database of a target.
    pub fn forget_database(&self, target: &str, database: &str) {
        for method in ["connect", "pool"] {
            self.acquisition.remove([target, database, method]);
        }
    }

    /// Records how a configuration (re)load went.
    pub fn reloaded(&self, ok: bool) {
        self.reload_ok.set([], if ok { 1.0 } else { 0.0 });
        if ok {
            self.reload_at.set([], crate::clock::now());
        }
    }

    fn per_collector(&self) -> [&Labeled<3>; 5] {
        [
            &self.collector_success,
            &self.collector_duration,
            &self.collector_last_success,
            &self.collector_polls,
            &self.collector_errors,
        ]
    }

    /// The series of one gauge or counter self-metric by name, for in-process readers (the
    /// alert evaluator); `None` if no such self-metric exists (histograms: see
    /// [`Histogram::cumulative`]).
    pub fn samples(&self, name: &str) -> Option<Vec<Sample>> {
        let target_level = [
            &self.build_info,
            &self.up,
            &self.server_supported,
            &self.probe_failures,
        ];
        if let Some(f) = target_level.iter().find(|f| f.name() == name) {
            return Some(f.samples());
        }
        if let Some(f) = [&self.reload_ok, &self.reload_at]
            .iter()
            .find(|f| f.name() == name)
        {
            return Some(f.samples());
        }
        if let Some(f) = self.per_collector().iter().find(|f| f.name() == name) {
            return Some(f.samples());
        }
        if self.collector_skipped.name() == name {
            return Some(self.collector_skipped.samples());
        }
        let registered = self.registered.lock().unwrap();
        registered
            .iter()
            .find(|f| f.name() == name)
            .map(|f| f.samples())
    }

    /// Registers a downstream component's family to be rendered and read with these; refused
    /// when a self-metric of that name exists.
    pub fn register(&self, family: Arc<dyn SelfMetric>) -> Result<(), String> {
        if self.samples(family.name()).is_some() {
            return Err(format!("self-metric `{}` registered twice", family.name()));
        }
        self.registered.lock().unwrap().push(family);
        Ok(())
    }

    /// The self-metrics in Prometheus' text format.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(64 * 1024);
        self.build_info.encode(&mut out);
        self.reload_ok.encode(&mut out);
        self.reload_at.encode(&mut out);
        for f in [&self.up, &self.server_supported, &self.probe_failures] {
            f.encode(&mut out);
        }
        self.acquisition.encode(&mut out);
        for f in self.per_collector() {
            f.encode(&mut out);
        }
        self.collector_skipped.encode(&mut out);
        for f in self.registered.lock().unwrap().iter() {
            f.encode(&mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_labeled_series_and_histograms() {
        let t = Telemetry::new(0.05);
        t.up.set(["a\"b"], 1.0);
        t.collector_polls.inc(["main", "app", "statements"]);
        t.collector_polls.inc(["main", "app", "statements"]);
        t.acquisition.observe(["main", "app", "pool"], 0.003);
        t.acquisition.observe(["main", "app", "pool"], 20.0);
        let text = t.encode();
        assert!(
            text.contains("# TYPE pgvitals_up gauge\npgvitals_up{target=\"a\\\"b\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("pgvitals_collector_polls_total{target=\"main\",database=\"app\",collector=\"statements\"} 2\n"));
        assert!(text.contains("pgvitals_connection_acquisition_seconds_bucket{target=\"main\",database=\"app\",method=\"pool\",le=\"0.0025\"} 0\n"));
        assert!(text.contains("pgvitals_connection_acquisition_seconds_bucket{target=\"main\",database=\"app\",method=\"pool\",le=\"0.005\"} 1\n"));
        assert!(text.contains("pgvitals_connection_acquisition_seconds_bucket{target=\"main\",database=\"app\",method=\"pool\",le=\"10\"} 1\n"));
        assert!(text.contains("pgvitals_connection_acquisition_seconds_bucket{target=\"main\",database=\"app\",method=\"pool\",le=\"+Inf\"} 2\n"));
        assert!(text.contains("pgvitals_connection_acquisition_seconds_count{target=\"main\",database=\"app\",method=\"pool\"} 2\n"));
        assert!(text.contains("pgvitals_build_info{version="));
        assert!(
            !text.contains("pgvitals_config_last_reload_successful"),
            "not loaded yet"
        );
        let (_, cumulative) = &t.acquisition.cumulative()[0];
        assert_eq!(cumulative.last(), Some(&(f64::INFINITY, 2)));
        t.forget_target("a\"b");
        assert!(!t.encode().contains("pgvitals_up{"));
        assert_eq!(
            t.samples("pgvitals_collector_polls_total").unwrap()[0].1,
            2.0
        );
        assert!(t.samples("pgvitals_nothing").is_none());
        assert_eq!(t.samples("pgvitals_build_info").unwrap()[0].1, 1.0);
        let c = Arc::new(Labeled::counter("pgvitals_downstream_total", "d", []));
        t.register(c.clone()).unwrap();
        assert!(
            !t.encode().contains("pgvitals_downstream_total"),
            "no series yet"
        );
        c.inc([]);
        assert_eq!(t.samples("pgvitals_downstream_total").unwrap()[0].1, 1.0);
        assert!(t
            .encode()
            .contains("# TYPE pgvitals_downstream_total counter\npgvitals_downstream_total 1\n"));
        assert!(t.register(c).is_err(), "a name registers once");
        let up_again = Arc::new(Labeled::gauge("pgvitals_up", "again", ["target"]));
        assert!(t.register(up_again).is_err(), "nor shadows a built-in one");
    }
}
