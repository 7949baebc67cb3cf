//! What the statements collector does with each interval beyond its metric families: adds it to
//! the target's statement history, compares each top statement with its baseline (regression),
//! and posts the statements that want a plan on the target's board.
//!
//! **Baseline**: the median of the statement's 1-minute means of the last hour, over minutes
//! with at least `min_calls` executions (at least `min_minutes` of them). **Regressed**: the
//! interval mean over `factor` × the baseline, with at least `min_calls` executions.
//! **Plan candidates**: slow statements (interval mean over `thresholds.slow_query`, the
//! `SlowQuery` condition), regressed ones, and the `PLAN_TOP` statements with the most
//! execution time, each with its figures and since when it has been slow or regressed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use super::board::{Board, Candidate, Reason};
use super::statement_deltas::{Cumulative, EntryKey};
use crate::config::{PlansConfig, StatementsConfig, Thresholds};
use crate::detail::{SharedHistory, StatementKey};
use crate::figures::Delta;
use crate::history::History;

/// The busiest statements that get a plan even when nothing is wrong with them.
pub const PLAN_TOP: usize = 10;

/// The watch's settings.
#[derive(Debug, Clone)]
pub struct WatchSettings {
    /// `thresholds.slow_query`, ms.
    pub slow_ms: f64,
    /// `thresholds.query_regression.factor`.
    pub factor: f64,
    /// `thresholds.query_regression.min_calls`.
    pub min_calls: f64,
    /// `thresholds.query_regression.min_minutes`.
    pub min_minutes: usize,
    /// Statements in the history, at most.
    pub history_statements: usize,
    /// Whether plans are captured (else nothing is posted).
    pub plans: bool,
}

impl WatchSettings {
    /// From the config.
    pub fn new(cfg: &StatementsConfig, t: &Thresholds, plans: &PlansConfig) -> WatchSettings {
        WatchSettings {
            slow_ms: t.slow_query.0.as_secs_f64() * 1000.0,
            factor: t.query_regression.factor,
            min_calls: t.query_regression.min_calls as f64,
            min_minutes: t.query_regression.min_minutes,
            history_statements: cfg.history_statements,
            plans: plans.enabled,
        }
    }
}

/// A top statement of the interval, as the watch sees it.
pub struct Seen<'a> {
    /// Its pg_stat_statements entry.
    pub entry: EntryKey,
    /// Its labels.
    pub key: StatementKey,
    /// The interval.
    pub delta: &'a Delta,
    /// pgvitals' running sums.
    pub cumulative: Cumulative,
    /// Its text, and whether pg_stat_statements' is longer.
    pub text: Option<&'a (String, bool)>,
}

/// The history, the baselines and the board of one target's statements.
pub struct Watch {
    settings: WatchSettings,
    history: SharedHistory,
    board: Arc<Board>,
    /// Since when each statement has been slow or regressed.
    onset: HashMap<EntryKey, (Reason, Instant)>,
}

impl Watch {
    /// A watch with an empty history.
    pub fn new(settings: WatchSettings, board: Arc<Board>) -> Watch {
        let history = Arc::new(std::sync::RwLock::new(History::new(
            settings.history_statements + 1,
        )));
        Watch {
            settings,
            history,
            board,
            onset: HashMap::new(),
        }
    }

    /// The history, to publish.
    pub fn history(&self) -> SharedHistory {
        self.history.clone()
    }

    /// Adds an interval ending at `now` (Unix seconds) of `seconds`: the top statements and the
    /// rest summed. Returns each top statement's baseline mean (ms), in order.
    pub fn interval(
        &mut self,
        now: u64,
        seconds: f64,
        top: &[Seen<'_>],
        other: &Delta,
    ) -> Vec<Option<f64>> {
        let mut baselines = Vec::with_capacity(top.len());
        let mut by_database: HashMap<String, Vec<Candidate>> = HashMap::new();
        let mut still: HashSet<EntryKey> = HashSet::new();
        {
            let mut h = self.history.write().unwrap();
            for (rank, s) in top.iter().enumerate() {
                let baseline = h.get(&s.key).and_then(|st| {
                    st.baseline_mean_ms(now, self.settings.min_calls, self.settings.min_minutes)
                });
                baselines.push(baseline);
                if s.delta.spread.n > 0.0 {
                    h.add(&s.key, now, s.delta);
                }
                let Some((text, truncated)) = s.text else {
                    continue;
                };
                h.set_text(&s.key, text);
                let mean = s.delta.spread.mean;
                let reason = if s.delta.spread.n > 0.0 && mean > self.settings.slow_ms {
                    Some(Reason::Slow)
                } else if baseline.is_some_and(|b| {
                    s.delta.spread.n >= self.settings.min_calls && mean > self.settings.factor * b
                }) {
                    Some(Reason::Regressed)
                } else {
                    None
                };
                let since = reason.map(|r| {
                    still.insert(s.entry);
                    self.onset
                        .entry(s.entry)
                        .and_modify(|o| {
                            if o.0 != r {
                                *o = (r, Instant::now());
                            }
                        })
                        .or_insert((r, Instant::now()))
                        .1
                });
                let reason = match reason {
                    Some(r) => r,
                    None if rank < PLAN_TOP => Reason::Top,
                    None => continue,
                };
                if !self.settings.plans {
                    continue;
                }
                by_database
                    .entry(s.key.database.clone())
                    .or_default()
                    .push(Candidate {
                        queryid: s.entry.queryid,
                        query: text.clone(),
                        truncated: *truncated,
                        reason,
                        since,
                        mean_ms: mean,
                        calls_total: s.cumulative.calls,
                        exec_ms_total: s.cumulative.exec_seconds * 1000.0,
                        exec_ms_per_minute: s.delta.total_ms * 60.0 / seconds.max(1e-3),
                    });
            }
            if other.spread.n > 0.0 {
                h.add(&other_key(), now, other);
            }
            h.expire(now);
        }
        self.onset.retain(|k, _| still.contains(k));
        if self.settings.plans {
            self.board.post(by_database);
        }
        baselines
    }
}

/// The key of the `other` bucket.
pub fn other_key() -> StatementKey {
    StatementKey {
        queryid: "other".into(),
        database: String::new(),
        user: String::new(),
        toplevel: true,
    }
}
