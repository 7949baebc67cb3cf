//! Rule evaluation: what the latest polls say, and each alert's state machine.
//!
//! [`Inputs::read`] takes from the snapshot only the series the rules need (plus pgvitals' own
//! metrics); [`Engine::evaluate`] runs every rule over them and moves each alert through
//! inactive → pending → firing → resolved, the way Prometheus does: `for` before firing,
//! `keep_firing_for` after the condition stops. An alert is identified by its rule and labels.
//!
//! Missing input does not flap an alert. When an alert's series is absent:
//! - because its collector's last poll failed or its target is down, the alert keeps its state
//!   and value for as long as that lasts (`TargetDown`/`CollectorFailing` say why);
//! - while its collector keeps succeeding (a statement with no executions in the interval, an
//!   index nobody read), the alert keeps its state for `hold_absent`, then counts as no longer
//!   true. A pending alert does not fire while its series is absent.
//!
//! A target removed from the configuration resolves its alerts at once.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::time::{Duration, SystemTime};

use super::evidence::Evidence;
use crate::pgbouncer::families::SATURATION;
use crate::snapshot::{Snapshot, SourceKey};
use crate::template::{humanize, humanize_percentage};

use super::rules::{Enrich, Input, Rule, WORST_INDEX_METRIC};

/// Label names and values, sorted.
pub type Labels = BTreeMap<String, String>;

pub use crate::telemetry::Buckets;

/// One sampled series.
#[derive(Debug, Clone)]
pub struct Series {
    /// All labels, the source's (`target`, `database`) included.
    pub labels: Labels,
    /// The value.
    pub value: f64,
    /// The poll it came from; `None` for pgvitals' own metrics.
    pub source: Option<SourceKey>,
}

/// What the rules read at one evaluation.
#[derive(Debug, Default)]
pub struct Inputs {
    /// Sampled series by metric name (only the names asked for).
    pub series: HashMap<String, Vec<Series>>,
    /// What the detail says about statements (texts, plans, suggestions, causes).
    pub evidence: Evidence,
    /// Sources whose last poll succeeded.
    pub sources: HashSet<SourceKey>,
    /// Targets configured.
    pub targets: BTreeSet<String>,
    /// Connection-acquisition histogram per target: (upper bound, cumulative count), summed
    /// over databases and methods.
    pub acquisition: BTreeMap<String, Buckets>,
}

impl Inputs {
    /// Reads what `rules` need from the snapshot and its self-metrics.
    pub fn read(snapshot: &Snapshot, rules: &[Rule]) -> Inputs {
        let wanted: HashSet<&str> = rules
            .iter()
            .flat_map(|r| r.metrics())
            .chain(super::goals::METRICS)
            .collect();
        let notes = rules
            .iter()
            .any(|r| matches!(r.enrich, Enrich::Statement | Enrich::Regression));
        let now = crate::clock::now();
        let mut inputs = Inputs {
            targets: snapshot.targets().into_iter().collect(),
            ..Inputs::default()
        };
        for (key, entry) in snapshot.entries() {
            for family in entry.families.iter() {
                if !wanted.contains(family.name) {
                    continue;
                }
                let out = inputs.series.entry(family.name.to_string()).or_default();
                for s in &family.samples {
                    let labels = entry
                        .source_labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.clone()))
                        .chain(s.labels.iter().map(|(k, v)| (k.to_string(), v.clone())))
                        .collect();
                    out.push(Series {
                        labels,
                        value: s.value,
                        source: Some(key.clone()),
                    });
                }
            }
            if notes {
                inputs.evidence.read(&key, &entry, now);
            }
            inputs.sources.insert(key);
        }
        let telemetry = snapshot.telemetry();
        for (values, buckets) in telemetry.acquisition.cumulative() {
            let [target, ..] = values;
            let acc = inputs.acquisition.entry(target).or_default();
            if acc.is_empty() {
                acc.extend(buckets);
            } else {
                for (slot, (_, c)) in acc.iter_mut().zip(buckets) {
                    slot.1 += c;
                }
            }
        }
        for name in &wanted {
            let Some(samples) = telemetry.samples(name).filter(|s| !s.is_empty()) else {
                continue;
            };
            let out = inputs.series.entry(name.to_string()).or_default();
            out.extend(samples.into_iter().map(|(labels, value)| {
                Series {
                    labels: labels
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect(),
                    value,
                    source: None,
                }
            }));
        }
        inputs
    }
}

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// The condition holds, not yet for `for`.
    Pending,
    /// The condition has held for `for` (or is kept firing by `keep_firing_for`).
    Firing,
}

impl State {
    /// `pending` or `firing`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Firing => "firing",
        }
    }
}

/// One active (pending or firing) or recently resolved alert.
#[derive(Debug, Clone)]
pub struct Alert {
    /// The rule's name.
    pub rule: String,
    /// Identity: series labels, rule labels and `alertname`.
    pub labels: Labels,
    /// Rendered annotations.
    pub annotations: BTreeMap<String, String>,
    /// Pending or firing.
    pub state: State,
    /// When the condition started holding.
    pub active_at: SystemTime,
    /// When it started firing.
    pub fired_at: Option<SystemTime>,
    /// When it was resolved.
    pub resolved_at: Option<SystemTime>,
    /// Since when it is kept firing by `keep_firing_for` although the condition stopped.
    pub keep_firing_since: Option<SystemTime>,
    /// The value at the last evaluation that saw the series.
    pub value: f64,
    /// The last evaluation at which the condition held.
    pub last_true: SystemTime,
    series_labels: Labels,
    source: Option<SourceKey>,
}

/// The outcome of one rule at the last evaluation.
#[derive(Debug, Clone)]
pub struct RuleStatus {
    /// When it was evaluated.
    pub last_evaluation: Option<SystemTime>,
    /// How long it took.
    pub evaluation_time: Duration,
    /// Series it saw (selected, whatever their value).
    pub series: usize,
}

/// Settings of the state machine.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How long an absent series keeps its alert's state while its collector succeeds.
    pub hold_absent: Duration,
    /// How long resolved alerts are kept for delivery.
    pub resolved_retention: Duration,
    /// The window of the connection-acquisition target (`alerts.connection_acquisition_window`).
    pub acquisition_window: Duration,
}

/// The rules and the state of their alerts.
#[derive(Debug)]
pub struct Engine {
    rules: Vec<Rule>,
    settings: Settings,
    active: BTreeMap<(String, Labels), Alert>,
    resolved: VecDeque<Alert>,
    status: HashMap<String, RuleStatus>,
    acquisition_history: VecDeque<(SystemTime, BTreeMap<String, Buckets>)>,
}

impl Engine {
    /// An engine with no alert active.
    pub fn new(rules: Vec<Rule>, settings: Settings) -> Engine {
        Engine {
            rules,
            settings,
            active: BTreeMap::new(),
            resolved: VecDeque::new(),
            status: HashMap::new(),
            acquisition_history: VecDeque::new(),
        }
    }

    /// The rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Replaces the rules (a reload). Alerts of rules that still exist keep their state and
    /// `activeAt` and are re-evaluated with the new thresholds at the next evaluation; alerts of
    /// rules that are gone are resolved.
    pub fn set_rules(&mut self, rules: Vec<Rule>, settings: Settings, now: SystemTime) {
        let names: HashSet<&str> = rules.iter().map(|r| r.name.as_str()).collect();
        let gone: Vec<_> = self
            .active
            .keys()
            .filter(|(rule, _)| !names.contains(rule.as_str()))
            .cloned()
            .collect();
        for key in gone {
            let a = self.active.remove(&key).unwrap();
            self.resolve(a, now);
        }
        self.status.retain(|name, _| names.contains(name.as_str()));
        self.rules = rules;
        self.settings = settings;
    }

    /// Pending and firing alerts.
    pub fn active(&self) -> impl Iterator<Item = &Alert> {
        self.active.values()
    }

    /// Alerts resolved within the retention.
    pub fn resolved(&self) -> impl Iterator<Item = &Alert> {
        self.resolved.iter()
    }

    /// A rule's last outcome.
    pub fn status(&self, rule: &str) -> Option<&RuleStatus> {
        self.status.get(rule)
    }

    fn resolve(&mut self, mut a: Alert, now: SystemTime) {
        if a.state == State::Firing {
            a.resolved_at = Some(now);
            self.resolved.push_back(a);
        }
    }

    /// Evaluates every rule at `now`.
    pub fn evaluate(&mut self, inputs: &Inputs, now: SystemTime) {
        self.acquisition_history
            .push_back((now, inputs.acquisition.clone()));
        let longest_window = self
            .rules
            .iter()
            .filter_map(|r| match r.input {
                Input::AcquisitionQuantile { window, .. } => Some(window),
                _ => None,
            })
            .max()
            .unwrap_or_default()
            .max(self.settings.acquisition_window);
        while self.acquisition_history.len() > 1
            && age(now, self.acquisition_history[1].0) >= longest_window
        {
            self.acquisition_history.pop_front();
        }
        while self.resolved.front().is_some_and(|a| {
            age(now, a.resolved_at.unwrap_or(now)) > self.settings.resolved_retention
        }) {
            self.resolved.pop_front();
        }
        let rules = std::mem::take(&mut self.rules);
        for rule in &rules {
            let started = std::time::Instant::now();
            let (candidates, present) = self.candidates(rule, inputs);
            let series = present.len();
            self.step(rule, candidates, &present, inputs, now);
            self.status.insert(
                rule.name.clone(),
                RuleStatus {
                    last_evaluation: Some(now),
                    evaluation_time: started.elapsed(),
                    series,
                },
            );
        }
        self.rules = rules;
    }

    /// The series for which the rule's condition holds, and every selected series.
    fn candidates(&self, rule: &Rule, inputs: &Inputs) -> (Vec<Candidate>, HashSet<Labels>) {
        let mut out = Vec::new();
        let mut present = HashSet::new();
        match &rule.input {
            Input::Series(expr) => {
                for s in inputs.series.get(&expr.metric).into_iter().flatten() {
                    if !expr.selects(|name| s.labels.get(name).map(String::as_str)) {
                        continue;
                    }
                    present.insert(s.labels.clone());
                    if expr.op.holds(s.value, expr.threshold) {
                        out.push(Candidate {
                            series: s.labels.clone(),
                            value: s.value,
                            source: s.source.clone(),
                            extra: enrich(rule.enrich, &s.labels, inputs),
                        });
                    }
                }
            }
            Input::AcquisitionQuantile {
                quantile,
                window,
                threshold,
            } => {
                for (target, value) in self.acquisition_quantiles(*quantile, *window, inputs) {
                    let labels = Labels::from([("target".to_string(), target)]);
                    present.insert(labels.clone());
                    if value > *threshold {
                        out.push(Candidate {
                            series: labels,
                            value,
                            source: None,
                            extra: Vec::new(),
                        });
                    }
                }
            }
        }
        (out, present)
    }

    /// The `quantile` of connection acquisition per target over the last `window` (from the
    /// histograms kept at each evaluation; since the first evaluation while younger).
    pub fn acquisition_quantiles(
        &self,
        quantile: f64,
        window: Duration,
        inputs: &Inputs,
    ) -> Vec<(String, f64)> {
        let now = self.acquisition_history.back().map(|(t, _)| *t);
        let base = self
            .acquisition_history
            .iter()
            .rev()
            .find(|(t, _)| now.is_some_and(|n| age(n, *t) >= window));
        let mut out = Vec::new();
        for (target, buckets) in &inputs.acquisition {
            let before = base.and_then(|(_, m)| m.get(target));
            let delta: Vec<(f64, u64)> = buckets
                .iter()
                .enumerate()
                .map(|(i, (le, c))| {
                    let b = before.and_then(|v| v.get(i)).map_or(0, |x| x.1);
                    (*le, c.saturating_sub(b))
                })
                .collect();
            if let Some(value) = histogram_quantile(quantile, &delta) {
                out.push((target.clone(), value));
            }
        }
        out
    }

    fn step(
        &mut self,
        rule: &Rule,
        candidates: Vec<Candidate>,
        present: &HashSet<Labels>,
        inputs: &Inputs,
        now: SystemTime,
    ) {
        let mut seen = HashSet::new();
        for c in candidates {
            let mut labels = c.series.clone();
            for (k, v) in &rule.labels {
                labels.insert(k.clone(), v.clone());
            }
            labels.insert("alertname".into(), rule.name.clone());
            let mut annotations: BTreeMap<String, String> = rule
                .annotations
                .iter()
                .map(|(k, a)| (k.clone(), a.template.render(&labels, c.value)))
                .collect();
            annotations.extend(c.extra);
            let key = (rule.name.clone(), labels.clone());
            seen.insert(key.clone());
            match self.active.get_mut(&key) {
                Some(a) => {
                    a.value = c.value;
                    a.last_true = now;
                    a.keep_firing_since = None;
                    a.annotations = annotations;
                    a.source = c.source;
                    if a.state == State::Pending && age(now, a.active_at) >= rule.for_ {
                        a.state = State::Firing;
                        a.fired_at = Some(now);
                    }
                }
                None => {
                    let firing = rule.for_.is_zero();
                    self.active.insert(
                        key,
                        Alert {
                            rule: rule.name.clone(),
                            labels,
                            annotations,
                            state: if firing {
                                State::Firing
                            } else {
                                State::Pending
                            },
                            active_at: now,
                            fired_at: firing.then_some(now),
                            resolved_at: None,
                            keep_firing_since: None,
                            value: c.value,
                            last_true: now,
                            series_labels: c.series,
                            source: c.source,
                        },
                    );
                }
            }
        }
        let others: Vec<(String, Labels)> = self
            .active
            .range((rule.name.clone(), Labels::new())..)
            .take_while(|((r, _), _)| *r == rule.name)
            .map(|(k, _)| k.clone())
            // Two rules may share a name (a warning and a critical threshold): each owns the
            // alerts that carry its own labels.
            .filter(|(_, l)| rule.labels.iter().all(|(k, v)| l.get(k) == Some(v)))
            .filter(|k| !seen.contains(k))
            .collect();
        for key in others {
            let a = self.active.get_mut(&key).unwrap();
            let target_gone = a
                .labels
                .get("target")
                .is_some_and(|t| !inputs.targets.contains(t));
            if !target_gone && !present.contains(&a.series_labels) {
                let source_failing = a
                    .source
                    .as_ref()
                    .is_some_and(|s| !inputs.sources.contains(s));
                if source_failing || age(now, a.last_true) < self.settings.hold_absent {
                    continue;
                }
            }
            if !target_gone
                && a.state == State::Firing
                && age(now, a.last_true) < rule.keep_firing_for
            {
                a.keep_firing_since.get_or_insert(now);
                continue;
            }
            let a = self.active.remove(&key).unwrap();
            self.resolve(a, now);
        }
    }
}

struct Candidate {
    series: Labels,
    value: f64,
    source: Option<SourceKey>,
    extra: Vec<(String, String)>,
}

fn age(now: SystemTime, then: SystemTime) -> Duration {
    now.duration_since(then).unwrap_or_default()
}

fn enrich(how: Enrich, labels: &Labels, inputs: &Inputs) -> Vec<(String, String)> {
    let target = labels.get("target").cloned().unwrap_or_default();
    match how {
        Enrich::None => Vec::new(),
        Enrich::Statement | Enrich::Regression => {
            let queryid = labels.get("queryid").cloned().unwrap_or_default();
            let database = labels.get("database").cloned().unwrap_or_default();
            let mut out = Vec::new();
            if let Some(n) = inputs.evidence.statement(&target, &queryid) {
                for (name, v) in [
                    ("query", &n.query),
                    ("plan", &n.plan),
                    ("suggestion", &n.suggestion),
                ] {
                    if let Some(v) = v {
                        out.push((name.to_string(), v.clone()));
                    }
                }
            }
            if how == Enrich::Regression {
                if let Some(c) = inputs.evidence.cause(&target, &database, &queryid) {
                    out.push(("likely_cause".to_string(), c));
                }
            }
            out
        }
        Enrich::PoolSaturation => {
            let same = |k: &str, s: &Series| s.labels.get(k) == labels.get(k);
            inputs
                .series
                .get(SATURATION)
                .into_iter()
                .flatten()
                .find(|s| same("target", s) && same("database", s) && same("user", s))
                .map(|s| {
                    vec![(
                        "saturation".to_string(),
                        format!(
                            "{} of the pool's servers in use",
                            humanize_percentage(s.value)
                        ),
                    )]
                })
                .unwrap_or_default()
        }
        Enrich::WorstIndex => {
            let database = labels.get("database");
            inputs
                .series
                .get(WORST_INDEX_METRIC)
                .into_iter()
                .flatten()
                .filter(|s| {
                    s.labels.get("target") == Some(&target) && s.labels.get("database") == database
                })
                .max_by(|a, b| a.value.total_cmp(&b.value))
                .map(|s| {
                    let l = |k: &str| s.labels.get(k).map_or("", String::as_str);
                    vec![(
                        "worst_index".to_string(),
                        format!(
                            "{}.{} on table {}: {} blocks read in the interval",
                            l("schema"),
                            l("index"),
                            l("table"),
                            humanize(s.value)
                        ),
                    )]
                })
                .unwrap_or_default()
        }
    }
}

/// Prometheus' `histogram_quantile` over cumulative (upper bound, count) buckets, the last one
/// `+Inf`. `None` with no observations.
pub fn histogram_quantile(q: f64, buckets: &[(f64, u64)]) -> Option<f64> {
    let total = buckets.last()?.1;
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let i = buckets.iter().position(|(_, c)| *c as f64 >= rank)?;
    if i == buckets.len() - 1 {
        // In the +Inf bucket: Prometheus answers the highest finite bound.
        return Some(
            buckets
                .get(buckets.len().wrapping_sub(2))
                .map_or(0.0, |b| b.0),
        );
    }
    let (upper, count) = buckets[i];
    let (lower, below) = if i == 0 {
        (0.0, 0)
    } else {
        (buckets[i - 1].0, buckets[i - 1].1)
    };
    let in_bucket = (count - below) as f64;
    if in_bucket == 0.0 {
        return Some(upper);
    }
    Some(lower + (upper - lower) * (rank - below as f64) / in_bucket)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn rules(extra: &str) -> Vec<Rule> {
        let c = Config::parse(
            &format!("targets:\n  - name: main\n    dsn: postgresql://u@127.0.0.1/db\n{extra}"),
            "t.yaml",
        )
        .unwrap();
        super::super::rules::build(&c)
    }

    fn settings() -> Settings {
        Settings {
            hold_absent: Duration::from_secs(60),
            resolved_retention: Duration::from_secs(900),
            acquisition_window: Duration::from_secs(300),
        }
    }

    fn key(collector: &'static str) -> SourceKey {
        SourceKey {
            target: "main".into(),
            database: "db".into(),
            collector,
        }
    }

    fn inputs(metric: &str, series: &[(&[(&str, &str)], f64)], collector: &'static str) -> Inputs {
        let mut i = Inputs {
            targets: ["main".to_string()].into(),
            ..Inputs::default()
        };
        i.sources.insert(key(collector));
        i.series.insert(
            metric.into(),
            series
                .iter()
                .map(|(labels, v)| Series {
                    labels: labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .chain([("target".to_string(), "main".to_string())])
                        .collect(),
                    value: *v,
                    source: Some(key(collector)),
                })
                .collect(),
        );
        i
    }

    fn at(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + s)
    }

    const MEAN: &str = "pgvitals_statement_interval_mean_seconds";

    #[test]
    fn pending_then_firing_then_resolved() {
        let mut e = Engine::new(rules(""), settings());
        let slow = inputs(
            MEAN,
            &[(&[("queryid", "7"), ("database", "db")], 0.5)],
            "statements",
        );
        e.evaluate(&slow, at(0));
        let a = e.active().next().unwrap();
        assert_eq!(a.state, State::Pending);
        assert_eq!(a.labels["alertname"], "SlowQuery");
        assert_eq!(a.labels["severity"], "warning");
        assert!(
            a.annotations["description"].contains("averaged 500ms"),
            "{:?}",
            a.annotations
        );
        e.evaluate(&slow, at(119));
        assert_eq!(e.active().next().unwrap().state, State::Pending);
        e.evaluate(&slow, at(120));
        let a = e.active().next().unwrap();
        assert_eq!(
            (a.state, a.active_at, a.fired_at),
            (State::Firing, at(0), Some(at(120)))
        );
        // Present and fast again: resolved at once (no keep_firing_for).
        let fast = inputs(
            MEAN,
            &[(&[("queryid", "7"), ("database", "db")], 0.01)],
            "statements",
        );
        e.evaluate(&fast, at(135));
        assert_eq!(e.active().count(), 0);
        let r = e.resolved().next().unwrap();
        assert_eq!(r.resolved_at, Some(at(135)));
        // The "other" bucket never alerts.
        let other = inputs(MEAN, &[(&[("queryid", "other")], 5.0)], "statements");
        e.evaluate(&other, at(150));
        assert_eq!(e.active().count(), 0);
    }

    #[test]
    fn a_warning_and_a_critical_rule_of_one_name_keep_their_own_alerts() {
        let mut e = Engine::new(
            rules("alerts:\n  builtin:\n    TransactionIdWraparoundRisk: {for: 0s}\n"),
            settings(),
        );
        const USED: &str = "pgvitals_database_transaction_id_used_ratio";
        let severities = |e: &Engine| {
            let mut s: Vec<String> = e
                .active()
                .filter(|a| a.rule == "TransactionIdWraparoundRisk")
                .map(|a| format!("{:?} {}", a.state, a.labels["severity"]))
                .collect();
            s.sort();
            s
        };
        e.evaluate(
            &inputs(USED, &[(&[("database", "db")], 0.6)], "wraparound"),
            at(0),
        );
        assert_eq!(severities(&e), ["Firing warning"]);
        e.evaluate(
            &inputs(USED, &[(&[("database", "db")], 0.8)], "wraparound"),
            at(60),
        );
        assert_eq!(severities(&e), ["Firing critical", "Firing warning"]);
        e.evaluate(
            &inputs(USED, &[(&[("database", "db")], 0.6)], "wraparound"),
            at(120),
        );
        assert_eq!(severities(&e), ["Firing warning"]);
    }

    #[test]
    fn absent_series_hold_their_state_without_flapping() {
        let mut e = Engine::new(
            rules("alerts:\n  builtin:\n    SlowQuery: {for: 30s}\n"),
            settings(),
        );
        let slow = inputs(MEAN, &[(&[("queryid", "7")], 0.5)], "statements");
        let quiet = inputs(MEAN, &[], "statements");
        e.evaluate(&slow, at(0));
        // No executions in the next interval: held, and a pending alert does not fire.
        e.evaluate(&quiet, at(40));
        assert_eq!(e.active().next().unwrap().state, State::Pending);
        e.evaluate(&slow, at(45));
        let a = e.active().next().unwrap();
        assert_eq!((a.state, a.active_at), (State::Firing, at(0)));
        // Collector failing: held however long it lasts.
        let mut failing = quiet;
        failing.sources.clear();
        e.evaluate(&failing, at(1000));
        assert_eq!(e.active().next().unwrap().state, State::Firing);
        // Collector back, series absent longer than hold_absent: resolved.
        let quiet = inputs(MEAN, &[], "statements");
        e.evaluate(&quiet, at(1001));
        assert_eq!(e.active().count(), 0);
        // Target removed from the configuration: resolved at once.
        e.evaluate(&slow, at(2000));
        let mut removed = inputs(MEAN, &[], "statements");
        removed.targets.clear();
        removed.sources.clear();
        e.evaluate(&removed, at(2001));
        assert_eq!(e.active().count(), 0);
    }

    #[test]
    fn keep_firing_for_and_reload_keep_active_at() {
        let mut e = Engine::new(
            rules("alerts:\n  builtin:\n    IndexHitRatioLow: {for: 0s, keep_firing_for: 1m}\n"),
            settings(),
        );
        let ratio = "pgvitals_database_index_hit_ratio";
        let mut low = inputs(ratio, &[(&[("database", "db")], 0.5)], "indexes");
        low.series.insert(
            WORST_INDEX_METRIC.into(),
            ["a", "b"]
                .iter()
                .zip([10.0, 2000.0])
                .map(|(i, v)| Series {
                    labels: [
                        ("target", "main"),
                        ("database", "db"),
                        ("schema", "public"),
                        ("table", "t"),
                        ("index", i),
                    ]
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                    value: v,
                    source: Some(key("indexes")),
                })
                .collect(),
        );
        e.evaluate(&low, at(0));
        let a = e.active().next().unwrap();
        assert_eq!(a.state, State::Firing);
        assert_eq!(
            a.annotations["worst_index"],
            "public.b on table t: 2k blocks read in the interval"
        );
        let ok = inputs(ratio, &[(&[("database", "db")], 0.99)], "indexes");
        e.evaluate(&ok, at(30));
        let a = e.active().next().unwrap();
        assert_eq!(
            (a.state, a.keep_firing_since),
            (State::Firing, Some(at(30)))
        );
        e.evaluate(&low, at(40));
        // Reload with a stricter threshold: same alert, same activeAt, new threshold applies.
        e.set_rules(
            rules("thresholds:\n  index_hit_ratio: 0.4\nalerts:\n  builtin:\n    IndexHitRatioLow: {for: 0s}\n"),
            settings(),
            at(50),
        );
        e.evaluate(&low, at(60));
        assert_eq!(e.active().count(), 0, "0.5 is above the new 0.4 threshold");
        e.set_rules(
            rules("alerts:\n  builtin:\n    IndexHitRatioLow: {for: 0s}\n"),
            settings(),
            at(70),
        );
        e.evaluate(&low, at(80));
        assert_eq!(e.active().next().unwrap().active_at, at(80));
    }

    #[test]
    fn acquisition_p95_over_the_window() {
        let mut e = Engine::new(rules(""), settings());
        let hist = |fast: u64, slow: u64| {
            let mut i = Inputs {
                targets: ["main".to_string()].into(),
                ..Inputs::default()
            };
            i.acquisition.insert(
                "main".into(),
                vec![
                    (0.01, fast),
                    (0.05, fast),
                    (0.25, fast + slow),
                    (f64::INFINITY, fast + slow),
                ],
            );
            i
        };
        e.evaluate(&hist(100, 0), at(0));
        e.evaluate(&hist(100, 0), at(400));
        assert_eq!(e.active().count(), 0);
        // In the last 5 minutes: 10 fast, 90 slow acquisitions → p95 in the 50–250 ms bucket.
        e.evaluate(&hist(110, 90), at(700));
        let a = e.active().next().unwrap();
        assert_eq!(a.labels["alertname"], "ConnectionAcquisitionSlow");
        assert!(
            (a.value - (0.05 + 0.2 * (95.0 - 10.0) / 90.0)).abs() < 1e-9,
            "{}",
            a.value
        );
    }

    #[test]
    fn histogram_quantile_matches_prometheus() {
        let b = [(0.1, 50), (0.2, 100), (f64::INFINITY, 100)];
        assert_eq!(histogram_quantile(0.5, &b), Some(0.1));
        assert!((histogram_quantile(0.75, &b).unwrap() - 0.15).abs() < 1e-12);
        assert_eq!(
            histogram_quantile(0.5, &[(0.1, 0), (f64::INFINITY, 0)]),
            None
        );
        assert_eq!(
            histogram_quantile(0.99, &[(0.1, 0), (f64::INFINITY, 10)]),
            Some(0.1)
        );
    }
}
