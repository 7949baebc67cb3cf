//! What the collectors of one target share: the statements collector posts which statements
//! want a plan (slow, regressed, or among the busiest) with their latest figures (kept ten
//! minutes after their last posting); the plans
//! collector of each polled database takes those of its database and captures plans within
//! one budget per target (`plans.max_per_minute`, every EXPLAIN counted).
//!
//! Peers at the same step of the flow share it; nothing downstream (snapshot, alerts, pages)
//! reads or writes it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Why a statement wants a plan, most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Its interval mean is over `thresholds.slow_query` (what makes `SlowQuery` pending).
    Slow,
    /// Its interval mean is over `thresholds.query_regression.factor` × its baseline.
    Regressed,
    /// Among the statements with the most execution time.
    Top,
}

/// A statement that wants a plan, and how it runs now.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// pg_stat_statements queryid.
    pub queryid: i64,
    /// Its normalized text.
    pub query: String,
    /// pg_stat_statements' text is longer than what pgvitals kept.
    pub truncated: bool,
    /// Why.
    pub reason: Reason,
    /// Since when it has been slow or regressed (without a break); `None` for `Top`.
    pub since: Option<Instant>,
    /// Mean execution time in the last interval, ms.
    pub mean_ms: f64,
    /// Executions pgvitals counted since it first saw the statement.
    pub calls_total: f64,
    /// Execution time pgvitals counted since it first saw the statement, ms.
    pub exec_ms_total: f64,
    /// Execution time per minute in the last interval, ms.
    pub exec_ms_per_minute: f64,
}

/// How long a statement stays a candidate after it was last posted: one that ran once (a
/// nightly report) still gets its plan.
const KEEP: std::time::Duration = std::time::Duration::from_secs(600);

#[derive(Debug)]
struct State {
    /// By database, then queryid: the latest posting and when it was.
    by_database: HashMap<String, HashMap<i64, (Candidate, Instant)>>,
    tokens: f64,
    refilled: Instant,
}

/// One target's board.
#[derive(Debug)]
pub struct Board {
    max_per_minute: f64,
    state: Mutex<State>,
}

impl Board {
    /// A board with a budget of `max_per_minute` plans per minute.
    pub fn new(max_per_minute: u32) -> Board {
        let max = f64::from(max_per_minute.max(1));
        Board {
            max_per_minute: max,
            state: Mutex::new(State {
                by_database: HashMap::new(),
                tokens: max,
                refilled: Instant::now(),
            }),
        }
    }

    /// Posts the candidates of an interval (statements collector, every poll), by database
    /// name; those not posted again stay for ten minutes.
    pub fn post(&self, by_database: HashMap<String, Vec<Candidate>>) {
        let now = Instant::now();
        let mut s = self.state.lock().unwrap();
        for (database, list) in by_database {
            let known = s.by_database.entry(database).or_default();
            for c in list {
                known.insert(c.queryid, (c, now));
            }
        }
        for known in s.by_database.values_mut() {
            known.retain(|_, (_, at)| now.duration_since(*at) < KEEP);
        }
        s.by_database.retain(|_, known| !known.is_empty());
    }

    /// The candidates of one database, most urgent first.
    pub fn candidates(&self, database: &str) -> Vec<Candidate> {
        let mut list: Vec<Candidate> = self
            .state
            .lock()
            .unwrap()
            .by_database
            .get(database)
            .map(|known| known.values().map(|(c, _)| c.clone()).collect())
            .unwrap_or_default();
        list.sort_by(|a, b| {
            a.reason
                .cmp(&b.reason)
                .then(b.exec_ms_per_minute.total_cmp(&a.exec_ms_per_minute))
                .then(a.queryid.cmp(&b.queryid))
        });
        list
    }

    /// Takes one EXPLAIN from the budget; false when the minute's budget is spent.
    pub fn take(&self) -> bool {
        let mut s = self.state.lock().unwrap();
        let now = Instant::now();
        let refill = now.duration_since(s.refilled).as_secs_f64() / 60.0 * self.max_per_minute;
        s.tokens = (s.tokens + refill).min(self.max_per_minute);
        s.refilled = now;
        if s.tokens >= 1.0 {
            s.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(queryid: i64, reason: Reason, per_minute: f64) -> Candidate {
        Candidate {
            queryid,
            query: "SELECT 1".into(),
            truncated: false,
            reason,
            since: None,
            mean_ms: 1.0,
            calls_total: 1.0,
            exec_ms_total: 1.0,
            exec_ms_per_minute: per_minute,
        }
    }

    #[test]
    fn urgent_first_and_a_bounded_budget() {
        let b = Board::new(3);
        b.post(HashMap::from([(
            "app".to_string(),
            vec![
                candidate(1, Reason::Top, 900.0),
                candidate(2, Reason::Slow, 10.0),
                candidate(3, Reason::Top, 1000.0),
            ],
        )]));
        let order: Vec<i64> = b.candidates("app").iter().map(|c| c.queryid).collect();
        assert_eq!(order, [2, 3, 1]);
        assert!(b.candidates("other").is_empty());
        // Posted again without 1: it stays (a statement that ran once still gets its plan).
        b.post(HashMap::from([(
            "app".to_string(),
            vec![candidate(3, Reason::Slow, 5.0)],
        )]));
        let now = b.candidates("app");
        let order: Vec<i64> = now.iter().map(|c| c.queryid).collect();
        assert_eq!(order, [2, 3, 1]);
        assert_eq!(now[1].reason, Reason::Slow, "the latest posting wins");
        assert!(b.take() && b.take() && b.take());
        assert!(!b.take(), "three per minute");
    }
}
